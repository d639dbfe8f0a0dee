/**
 * The conformance kit for overlap-check strategies: the JUnit suite to subclass, the reference
 * model and simulated images it compares against, and {@code ConformanceKit}, the runnable kit.
 */
module io.qcow2.overlap.tck {
  requires transitive io.qcow2.overlap;
  requires transitive org.junit.jupiter.api;
  requires transitive org.junit.jupiter.params;
  requires org.junit.platform.launcher;
  requires info.picocli;
  requires java.compiler;

  exports io.qcow2.overlap.tck;

  opens io.qcow2.overlap.tck to org.junit.platform.commons, info.picocli;

  uses io.qcow2.overlap.OverlapCheckerProvider;
}
