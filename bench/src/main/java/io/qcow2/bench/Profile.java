package io.qcow2.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How much of the suite a run covers and how long it measures. {@code quick} takes about two
 * minutes on two cores; {@code full} scales the check-latency curve to 10^7 structures and measures
 * longer; {@code ci} is what the regression gate runs (it narrows the params further to the
 * baseline's metrics).
 */
enum Profile {
  QUICK(
      // Macro: 4 + 15 single shots, each with its paired none pass; with the heap pre-touched
      // the shares' per-iteration spread is small enough (legacy W1 ±0.8 points from 20 shots at
      // load 9-13) and the three-minute budget needs the time the paired passes take.
      new Timing(2, 200, 5, 200, 1), new Timing(4, 0, 15, 0, 1),
      Map.of(
          "CheckLatencyBenchmark", Map.of("structures", new String[] {"1000", "10000", "100000"}),
          "EnterRemoveBenchmark", Map.of("structures", new String[] {"100000"}),
          "CacheHostileBenchmark", Map.of("structures", new String[] {"10000"}),
          // Single shots of ~50-300 ms: many short iterations narrow the t-interval of the
          // direct share more than few long ones (its per-iteration spread hardly depends on size).
          "ImageWorkloadBenchmark", Map.of(
              "w1MiB", new String[] {"256"}, "w2MiB", new String[] {"64"},
              "w3MiB", new String[] {"64"}, "w3Writes", new String[] {"50000"},
              "w4MiB", new String[] {"32"}, "w4Writes", new String[] {"10000"})),
      List.of(
          MemoryReport.Layout.of(64L << 20, 9),
          MemoryReport.Layout.of(256L << 20, 9),
          MemoryReport.Layout.of(1L << 30, 16),
          MemoryReport.Layout.of(64L << 30, 16))),
  FULL(
      new Timing(3, 1000, 5, 1000, 2), new Timing(3, 0, 10, 0, 2),
      Map.of(
          "CheckLatencyBenchmark", Map.of("structures",
              new String[] {"1000", "10000", "100000", "1000000", "10000000"}),
          "EnterRemoveBenchmark", Map.of("structures", new String[] {"100000", "1000000"}),
          "CacheHostileBenchmark", Map.of("structures", new String[] {"10000", "100000"}),
          "ImageWorkloadBenchmark", Map.of(
              "w1MiB", new String[] {"2048"}, "w2MiB", new String[] {"512"},
              "w3MiB", new String[] {"256"}, "w3Writes", new String[] {"200000"},
              "w4MiB", new String[] {"128"}, "w4Writes", new String[] {"40000"})),
      List.of(
          MemoryReport.Layout.of(64L << 20, 9),
          MemoryReport.Layout.of(256L << 20, 9),
          MemoryReport.Layout.of(1L << 30, 9),
          MemoryReport.Layout.of(2L << 30, 9),
          MemoryReport.Layout.of(1L << 30, 16),
          MemoryReport.Layout.of(64L << 30, 16),
          MemoryReport.Layout.of(1L << 40, 16))),
  // Macro: ten forks, because most of the gate metrics' spread between runs is between forks
  // (JIT decisions, memory layout), not between the iterations of one: with three, W3's share
  // varied ~7 % from run to run and its calibrated tolerance (+21 %) could not catch 20 %.
  CI(
      new Timing(3, 300, 10, 300, 1), new Timing(4, 0, 8, 0, 10),
      QUICK.params,
      List.of(MemoryReport.Layout.of(256L << 20, 9), MemoryReport.Layout.of(64L << 30, 16)));

  /**
   * JMH iteration settings.
   *
   * @param warmupMillis, measureMillis iteration time; 0 for single-shot benchmarks
   */
  record Timing(int warmupIterations, int warmupMillis, int iterations, int measureMillis,
      int forks) {}

  private final Timing micro;
  private final Timing macro;
  private final Map<String, Map<String, String[]>> params;
  private final List<MemoryReport.Layout> memoryLayouts;

  Profile(Timing micro, Timing macro, Map<String, Map<String, String[]>> params,
      List<MemoryReport.Layout> memoryLayouts) {
    this.micro = micro;
    this.macro = macro;
    this.params = params;
    this.memoryLayouts = memoryLayouts;
  }

  Timing micro() {
    return micro;
  }

  Timing macro() {
    return macro;
  }

  /** Param overrides for one benchmark class (simple name); empty when it keeps its defaults. */
  Map<String, String[]> params(String benchmarkClass) {
    return params.getOrDefault(benchmarkClass, new LinkedHashMap<>());
  }

  List<MemoryReport.Layout> memoryLayouts() {
    return memoryLayouts;
  }

  /**
   * Whether macro runs pair every measured iteration with an overlap-check=none pass in the same
   * JVM ({@link ImageWorkloadBenchmark#PAIRED_NONE_PROPERTY}) for the report's share against none;
   * the gate's metrics do not use it, so CI saves the time.
   */
  boolean pairedNone() {
    return this != CI;
  }

  String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  static Profile parse(String name) {
    for (Profile p : values()) {
      if (p.label().equals(name)) {
        return p;
      }
    }
    throw new IllegalArgumentException("Profile '" + name + "' not found; available: quick, full, ci");
  }
}
