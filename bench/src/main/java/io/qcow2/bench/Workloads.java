package io.qcow2.bench;

import java.util.Map;

/** Which benchmarks are macro workloads (whole qcow2 operations through the engine). */
final class Workloads {
  /** Benchmark method → the workload's name in the issue, the series and the summary. */
  private static final Map<String, String> LABELS = Map.of(
      "w1CreatePreallocated", "W1",
      "w2SequentialWrites", "W2",
      "w3RandomWrites", "W3",
      "w4SnapshotWrites", "W4");

  /**
   * The series' perf CPU shares of the overlap check (legacy, then with the series applied, i.e.
   * windowed), from the cover letter (/work/shared/reference/qcow2-overlap-series-v2.txt); W4 was
   * not measured there.
   */
  private static final Map<String, String> SERIES = Map.of(
      "W1", "legacy 48.91 ± 1.54 %, windowed 0.195 ± 0.040 % (2 GiB image, 512 B clusters)",
      "W2", "legacy 12.14 ± 1.52 %, windowed 0.08 % (dd in a guest, 64 KiB clusters)",
      "W3", "legacy 18.73 ± 0.16 %, windowed 0.068 ± 0.009 % (random O_DIRECT 512 B writes)",
      "W4", "not measured in the series");

  private Workloads() {}

  /** Whether {@code benchmark} (a fully qualified method) is one of the macro workloads W1-W4. */
  static boolean isMacro(String benchmark) {
    return benchmark.contains(".ImageWorkloadBenchmark.");
  }

  /** W1..W4 for a macro benchmark (fully qualified method), or null. */
  static String label(String benchmark) {
    if (!isMacro(benchmark)) {
      return null;
    }
    return LABELS.get(benchmark.substring(benchmark.lastIndexOf('.') + 1));
  }

  /** The series' figure for a workload label, or null. */
  static String seriesFigure(String label) {
    return SERIES.get(label);
  }
}
