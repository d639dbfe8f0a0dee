package io.qcow2.overlap.runs;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.OverlapCheckerConformanceTest;
import io.qcow2.overlap.tck.ServiceDeclarations;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The conformance suite against the strategy as users get it, found through its provider. */
class RunsConformanceTest extends OverlapCheckerConformanceTest {
  @Override
  protected OverlapChecker create(OverlapCheckerSetup setup) {
    return new RunsOverlapCheckerProvider().create(setup);
  }

  @Test
  void moduleInfoAndServiceFileAgree() throws IOException {
    ServiceDeclarations.assertAgree(Path.of("target", "classes"));
  }
}
