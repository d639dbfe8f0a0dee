package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class GateComparisonTest {
  private static final String WORKLOAD = "CheckLatencyBenchmark.check structures=1000 writeBytes=512";

  private static Baseline baseline() {
    return Baseline.parse("""
        {"comment": "test", "machine": "test", "metrics": [
          {"kind": "ratio", "workload": "%s", "strategy": "windowed", "reference": "legacy",
           "value": 0.01, "error": 0.001, "tolerance": 1.0},
          {"kind": "memory", "workload": "2GiB/512B", "strategy": "windowed",
           "value": 40000, "tolerance": 0.1}
        ]}""".formatted(WORKLOAD));
  }

  private static List<BenchResult> results(double windowed) {
    return BenchResult.parseJmhJson(new FakeResults()
        .check("legacy", 1000, 2000, 100)
        .check("windowed", 1000, windowed, 1)
        .json());
  }

  private static List<MemoryRecord> memory(long bytes) {
    return List.of(new MemoryRecord("2GiB/512B", "windowed", 2L << 30, 512, 1, bytes, bytes));
  }

  @Test
  void passesWithinTolerance() {
    GateComparison gate = GateComparison.compare(baseline(), results(30), memory(43000));
    assertEquals(0, gate.exitCode(), gate.toText());
    assertTrue(gate.toText().contains("PASS"));
  }

  @Test
  void failsWhenRatioWorsensBeyondTolerance() {
    GateComparison gate = GateComparison.compare(baseline(), results(50), memory(40000));
    assertEquals(1, gate.exitCode());
    String text = gate.toText();
    assertTrue(text.contains("REGRESSION (2.50x baseline)"), text);
    assertTrue(text.contains("+100 %"), text);
    assertTrue(text.startsWith("metric"), text);
  }

  @Test
  void failsWhenMemoryGrowsBeyondTolerance() {
    GateComparison gate = GateComparison.compare(baseline(), results(20), memory(44001));
    assertEquals(1, gate.exitCode(), gate.toText());
    assertEquals(GateComparison.Verdict.REGRESSION, gate.lines().get(1).verdict());
  }

  @Test
  void ratiosUseMediansNotMeans() {
    // One windowed iteration slowed by a neighbour pulls the mean to 60, the median stays at 20.
    String json = new FakeResults()
        .check("legacy", 1000, 2000, 100)
        .check("windowed", 1000, 60, 1)
        .json()
        .replaceFirst("\"50.0\" : 60.0", "\"50.0\" : 20.0");
    List<BenchResult> results = BenchResult.parseJmhJson(json);
    assertEquals(20.0, results.get(1).median());
    GateComparison gate = GateComparison.compare(baseline(), results, memory(40000));
    assertEquals(0.01, gate.lines().get(0).measured(), 1e-12);
    assertEquals(0, gate.exitCode(), gate.toText());
  }

  @Test
  void missingMeasurementIsAnError() {
    GateComparison gate = GateComparison.compare(baseline(), results(20), List.of());
    assertEquals(2, gate.exitCode());
    assertTrue(gate.toText().contains("MISSING"));
  }

  @Test
  void baselineRoundTrips() {
    Baseline old = baseline();
    assertEquals(old, Baseline.parse(old.toJson()));
  }

  @Test
  void calibrationTakesTheGeometricMeanAndA99PercentPredictionLimit() {
    double[] windowed = {20, 22, 19, 21, 20.5};
    List<GateComparison> runs = new java.util.ArrayList<>();
    for (double w : windowed) {
      runs.add(GateComparison.compare(baseline(), results(w), memory(42000)));
    }
    Baseline calibrated = GateComparison.calibrated(baseline(), runs, "here");
    double mean = 0;
    for (double w : windowed) {
      mean += Math.log(w / 2000) / windowed.length;
    }
    double var = 0;
    for (double w : windowed) {
      var += Math.pow(Math.log(w / 2000) - mean, 2) / (windowed.length - 1);
    }
    Baseline.Metric ratio = calibrated.metrics().get(0);
    assertEquals(Math.exp(mean), ratio.value(), 1e-12);
    double limit = 3.747 * Math.sqrt(var) * Math.sqrt(1 + 1.0 / windowed.length);
    assertEquals(Math.ceil((Math.exp(limit) - 1) * 100) / 100, ratio.tolerance(), 1e-12);
    assertTrue(ratio.tolerance() > 0.1 && ratio.tolerance() < 0.5, ratio.toString());
    assertEquals(42000, calibrated.metrics().get(1).value(), 1e-9);
    assertEquals(0.1, calibrated.metrics().get(1).tolerance(), "memory: deterministic, kept");
    assertEquals("here", calibrated.machine());
  }

  @Test
  void shareMetricComparesInStrategyOverRestCpu() {
    Baseline baseline = new Baseline("", "", List.of(new Baseline.Metric(Baseline.Metric.SHARE,
        "ImageWorkloadBenchmark.w3RandomWrites size=64", "windowed", "", 0.125, 0, 0.1)));
    List<BenchResult> unchanged = BenchResult.parseJmhJson(new FakeResults()
        .probed("w3RandomWrites", "windowed", 100, 5, 11.5, 0.3, 90, 3).json());
    GateComparison ok = GateComparison.compare(baseline, unchanged, List.of());
    assertEquals(11.5 / 88.5, ok.lines().get(0).measured(), 1e-12);
    assertEquals(0, ok.exitCode(), ok.toText());
    // 20 % more time in the strategy: odds 0.13 -> 0.156, beyond 0.125 * 1.1.
    List<BenchResult> slower = BenchResult.parseJmhJson(new FakeResults()
        .probed("w3RandomWrites", "windowed", 100, 5, 13.5, 0.3, 90, 3).json());
    assertEquals(1, GateComparison.compare(baseline, slower, List.of()).exitCode());
  }
}
