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
  void baselineRoundTripsAndUpdatesKeepTolerances() {
    Baseline old = baseline();
    assertEquals(old, Baseline.parse(old.toJson()));
    Baseline updated = GateComparison.compare(old, results(30), memory(42000))
        .updatedBaseline(old, "here");
    assertEquals(0.015, updated.metrics().get(0).value(), 1e-12);
    assertEquals(1.0, updated.metrics().get(0).tolerance());
    assertEquals(42000, updated.metrics().get(1).value());
    assertEquals("here", updated.machine());
  }

  @Test
  void updateWidensToleranceBelowTheMeasuredError() {
    // windowed 30 ± 20 against legacy 2000 ± 100: relative error ~0.67, tolerance 0.5.
    Baseline old = Baseline.parse(baseline().toJson().replace("\"tolerance\": 1", "\"tolerance\": 0.5"));
    assertEquals(0.5, old.metrics().get(0).tolerance());
    List<BenchResult> noisy = BenchResult.parseJmhJson(new FakeResults()
        .check("legacy", 1000, 2000, 100)
        .check("windowed", 1000, 30, 20)
        .json());
    Baseline updated = GateComparison.compare(old, noisy, memory(40000)).updatedBaseline(old, "x");
    double relative = Math.hypot(20 / 30.0, 100 / 2000.0);
    assertEquals(Math.ceil(1.5 * relative * 4) / 4, updated.metrics().get(0).tolerance());
    assertTrue(updated.metrics().get(0).tolerance() > relative);
    assertEquals(0.1, updated.metrics().get(1).tolerance(), "memory has no error: kept");
  }
}
