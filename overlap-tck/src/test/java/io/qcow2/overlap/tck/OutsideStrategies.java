package io.qcow2.overlap.tck;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Strategy jars built in a test, as an outside author would build them. */
final class OutsideStrategies {
  static final String INTERVAL_PROVIDER = "outside.interval.IntervalProvider";

  private OutsideStrategies() {}

  /**
   * A jar in {@code dir} with the interval strategy named {@code name}; {@code broken}: its
   * multi-cluster checks miss their last cluster.
   */
  static Path interval(Path dir, String name, boolean broken) throws IOException {
    return interval(dir, name, broken, false);
  }

  /**
   * As {@link #interval(Path, String, boolean)}; {@code sleepy}: entering more than 2^40 clusters
   * sleeps until interrupted (correct, but too slow for the kit's probes, without burning a CPU).
   */
  static Path interval(Path dir, String name, boolean broken, boolean sleepy) throws IOException {
    String source;
    try (InputStream in = OutsideStrategies.class.getResourceAsStream("IntervalProvider.java.txt")) {
      source = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    source = source.replace("@NAME@", name).replace("@BROKEN@", Boolean.toString(broken));
    if (sleepy) {
      String enter = "protected void enterClusters(long first, long count, int types) {";
      if (!source.contains(enter)) {
        throw new IllegalStateException("the interval source changed: no '" + enter + "'");
      }
      source = source.replace(enter, enter + """

                if (count > (1L << 40)) {
                  try {
                    Thread.sleep(Long.MAX_VALUE);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                  }
                }""");
    }
    return StrategyJar.build(dir.resolve(name + ".jar"), Map.of(INTERVAL_PROVIDER, source),
        List.of(INTERVAL_PROVIDER));
  }

  /** A jar whose provider {@code className} is named {@code name} and builds a do-nothing checker. */
  static Path named(Path dir, String jarName, String className, String name) throws IOException {
    int dot = className.lastIndexOf('.');
    String source = String.format("""
        package %s;

        import io.qcow2.overlap.OverlapChecker;
        import io.qcow2.overlap.OverlapCheckerProvider;
        import io.qcow2.overlap.OverlapCheckerSetup;

        public final class %s implements OverlapCheckerProvider {
          @Override
          public String name() {
            return "%s";
          }

          @Override
          public OverlapChecker create(OverlapCheckerSetup setup) {
            return new OverlapChecker(setup) {
              @Override public long memoryBytes() { return 16; }
              @Override protected void enterClusters(long first, long count, int types) {}
              @Override protected void removeClusters(long first, long count, int types) {}
              @Override protected int checkClusters(long first, long count, int wanted) { return 0; }
            };
          }
        }
        """, className.substring(0, dot), className.substring(dot + 1), name);
    return StrategyJar.build(dir.resolve(jarName), Map.of(className, source), List.of(className));
  }
}
