package io.qcow2.bench;

import java.util.Locale;
import java.util.StringJoiner;

/** Builds JMH JSON result text the way JMH writes it, for tests of the report and the gate. */
final class FakeResults {
  private final StringJoiner runs = new StringJoiner(",\n", "[\n", "\n]\n");

  FakeResults add(String benchmark, String mode, String unit, double score, double error,
      String... params) {
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
          "secondaryMetrics" : {}
        }""", benchmark, mode, p, score, errorText, score, score, score, unit));
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

  String json() {
    return runs.toString();
  }
}
