package io.qcow2.bench;

/** Which benchmarks are macro workloads (whole qcow2 operations through the engine). */
final class Workloads {
  private Workloads() {}

  /** Whether {@code benchmark} (a fully qualified method) is one of the macro workloads W1-W4. */
  static boolean isMacro(String benchmark) {
    return benchmark.contains(".ImageWorkloadBenchmark.");
  }
}
