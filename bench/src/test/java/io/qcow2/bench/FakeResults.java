package io.qcow2.bench;

import java.util.Locale;
import java.util.StringJoiner;

/** Builds JMH JSON result text the way JMH writes it, for tests of the report and the gate. */
final class FakeResults {
  private final StringJoiner runs = new StringJoiner(",\n", "[\n", "\n]\n");

  FakeResults add(String benchmark, String mode, String unit, double score, double error,
      String... params) {
    return addWithSecondary(benchmark, mode, unit, score, error, "{}", params);
  }

  /** A run with {@code secondary} as its secondaryMetrics object (JSON text). */
  FakeResults addWithSecondary(String benchmark, String mode, String unit, double score,
      double error, String secondary, String... params) {
    StringJoiner p = new StringJoiner(", ", "{", "}");
    for (int i = 0; i < params.length; i += 2) {
      p.add("\"" + params[i] + "\" : \"" + params[i + 1] + "\"");
    }
    String errorText = Double.isNaN(error) ? "\"NaN\"" : String.format(Locale.ROOT, "%s", error);
    runs.add(String.format(Locale.ROOT, """
        {
          "jmhVersion" : "1.37",
          "benchmark" : "%s",
          "mode" : "%s",
          "threads" : 1,
          "forks" : 1,
          "params" : %s,
          "primaryMetric" : {
            "score" : %s,
            "scoreError" : %s,
            "scoreConfidence" : [0, 0],
            "scorePercentiles" : {"0.0" : %s, "50.0" : %s, "100.0" : %s},
            "scoreUnit" : "%s",
            "rawData" : [[1.0, 2.0]]
          },
          "secondaryMetrics" : %s
        }""", benchmark, mode, p, score, errorText, score, score, score, unit, secondary));
    return this;
  }

  /** A check-latency score in ns/op. */
  FakeResults check(String strategy, long structures, double score, double error) {
    return add("io.qcow2.bench.CheckLatencyBenchmark.check", "avgt", "ns/op", score, error,
        "strategy", strategy, "structures", Long.toString(structures), "writeBytes", "512");
  }

  /** A macro workload score in ms/op. */
  FakeResults w1(String strategy, double score, double error) {
    return add("io.qcow2.bench.ImageWorkloadBenchmark.w1CreatePreallocated", "ss", "ms/op", score,
        error, "strategy", strategy, "imageMiB", "64");
  }

  /**
   * A macro workload (W1..W4 by its method name) with the probe's secondary metrics: direct share
   * (percent) and the workload thread's CPU time (ms), each with its error.
   */
  FakeResults probed(String method, String strategy, double ms, double msError, double share,
      double shareError, double cpu, double cpuError) {
    String secondary = String.format(Locale.ROOT, """
        {
            "probe.share" : {"score" : %s, "scoreError" : %s, "scoreUnit" : "%%"},
            "probe.cpu" : {"score" : %s, "scoreError" : %s, "scoreUnit" : "ms"}
          }""", share, shareError, cpu, cpuError);
    return addWithSecondary("io.qcow2.bench.ImageWorkloadBenchmark." + method, "ss", "ms/op", ms,
        msError, secondary, "strategy", strategy, "size", "64");
  }

  /**
   * As {@link #probed}, plus the paired none pass's metrics: {@code (t − t_none) / t} per
   * iteration (percent) with its error; 50 000 calls per iteration.
   */
  FakeResults pairedProbed(String method, String strategy, double ms, double share,
      double cpu, double vsNone, double vsNoneError) {
    String secondary = String.format(Locale.ROOT, """
        {
            "probe.share" : {"score" : %s, "scoreError" : 0.5, "scoreUnit" : "%%"},
            "probe.cpu" : {"score" : %s, "scoreError" : 3, "scoreUnit" : "ms"},
            "probe.noneCpu" : {"score" : %s, "scoreError" : 3, "scoreUnit" : "ms"},
            "probe.vsNone" : {"score" : %s, "scoreError" : %s, "scoreUnit" : "%%"},
            "probe.calls" : {"score" : 50000, "scoreError" : 0, "scoreUnit" : "calls"}
          }""", share, cpu, cpu * (1 - vsNone / 100), vsNone, vsNoneError);
    return addWithSecondary("io.qcow2.bench.ImageWorkloadBenchmark." + method, "ss", "ms/op", ms,
        1, secondary, "strategy", strategy, "size", "64");
  }

  String json() {
    return runs.toString();
  }
}
