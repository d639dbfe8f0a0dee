package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The gate catches a real slowdown: check latency of windowed, legacy and the deliberately slowed
 * {@code slowed-windowed} is measured here with a short harness on the check-latency benchmark's
 * own setup (real numbers, not constants), a baseline is taken from a first windowed/legacy
 * measurement, and the gate must fail when slowed-windowed is measured in windowed's place, and
 * pass for windowed itself.
 */
class RegressionGateTest {
  /**
   * Generous, because this runs inside the build on a machine other jobs share: the harness is far
   * shorter than a JMH run. The slowed strategy is about 100x worse, far beyond it.
   */
  private static final double TOLERANCE = 4.0;
  private static final String WORKLOAD = "CheckLatencyBenchmark.check structures=10000 writeBytes=512";

  /** Best of several rounds of at least 20 ms each, in ns per check. */
  static double nsPerCheck(String strategy) {
    CheckLatencyBenchmark b = new CheckLatencyBenchmark();
    b.strategy = strategy;
    b.structures = 10000;
    b.writeBytes = 512;
    b.setUp();
    double best = Double.MAX_VALUE;
    long sink = 0;
    for (int round = 0; round < 8; round++) {
      long ops = 0;
      long start = System.nanoTime();
      long elapsed;
      do {
        for (int i = 0; i < 256; i++) {
          sink += b.check();
        }
        ops += 256;
        elapsed = System.nanoTime() - start;
      } while (elapsed < 20_000_000L);
      best = Math.min(best, (double) elapsed / ops);
    }
    assertTrue(sink >= 0);
    return best;
  }

  /** JMH JSON with the measured scores; {@code as} renames each strategy in the results. */
  private static List<BenchResult> results(Map<String, Double> scores, Map<String, String> as) {
    FakeResults json = new FakeResults();
    scores.forEach((strategy, score) -> json.add("io.qcow2.bench.CheckLatencyBenchmark.check",
        "avgt", "ns/op", score, 0, "strategy", as.getOrDefault(strategy, strategy),
        "structures", "10000", "writeBytes", "512"));
    return BenchResult.parseJmhJson(json.json());
  }

  @Test
  void gateFailsForTheSlowedStrategyAndPassesForTheRealOne() {
    double legacy = nsPerCheck("legacy");
    double windowed = nsPerCheck("windowed");
    Baseline measured = new Baseline("test", "test", List.of(
        RegressionGate.ratio(WORKLOAD, "windowed", "legacy", TOLERANCE)));
    Baseline baseline = GateComparison.compare(measured,
        results(Map.of("legacy", legacy, "windowed", windowed), Map.of()), List.of())
        .updatedBaseline(measured, "test");

    // Windowed again before slowed-windowed runs at all: once the JIT has seen a third checker
    // class at the benchmark's call site, the call is no longer inlined and every strategy
    // measured after it in this JVM pays for that (JMH avoids it by forking).
    double legacyAgain = nsPerCheck("legacy");
    double windowedAgain = nsPerCheck("windowed");
    GateComparison realGate = GateComparison.compare(baseline,
        results(Map.of("legacy", legacyAgain, "windowed", windowedAgain), Map.of()), List.of());

    double slowed = nsPerCheck(SlowedWindowedProvider.NAME);
    GateComparison slowedGate = GateComparison.compare(baseline, results(
        Map.of("legacy", legacyAgain, SlowedWindowedProvider.NAME, slowed),
        Map.of(SlowedWindowedProvider.NAME, "windowed")), List.of());
    String table = slowedGate.toText();
    System.out.println("slowed-windowed measured as windowed:\n" + table);
    assertEquals(1, slowedGate.exitCode(), table);
    assertTrue(table.contains("REGRESSION"), table);
    assertEquals(0, realGate.exitCode(), realGate.toText());
  }

  @Test
  void planRunsExactlyTheBaselineWorkloads() {
    Baseline baseline = new Baseline("", "", new ArrayList<>(RegressionGate.DEFAULT_METRICS));
    Map<String, Map<String, Set<String>>> plan = RegressionGate.plan(baseline);
    assertEquals(Set.of("CheckLatencyBenchmark.check", "CacheHostileBenchmark.check",
        "ImageWorkloadBenchmark.w1CreatePreallocated", "ImageWorkloadBenchmark.w3RandomWrites"),
        plan.keySet());
    assertEquals(List.of("none", "windowed"), new ArrayList<>(
        plan.get("ImageWorkloadBenchmark.w1CreatePreallocated").get("strategy")));
    Map<String, Set<String>> check = plan.get("CheckLatencyBenchmark.check");
    assertEquals(List.of("legacy", "windowed"), new ArrayList<>(check.get("strategy")));
    assertEquals(Set.of("100000"), check.get("structures"));
    assertEquals(Set.of("512", "65536"), check.get("writeBytes"));
    assertEquals(Set.of("default"), plan.get("CacheHostileBenchmark.check").get("cache"));
  }

  @Test
  void memoryLayoutsParseFromNames() {
    assertEquals(512, RegressionGate.parseSize("512B"));
    assertEquals(64L << 30, RegressionGate.parseSize("64GiB"));
    List<MemoryReport.Layout> layouts = RegressionGate.memoryLayouts(
        new Baseline("", "", RegressionGate.DEFAULT_METRICS));
    assertEquals(List.of(MemoryReport.Layout.of(256L << 20, 9), MemoryReport.Layout.of(64L << 30, 16)),
        layouts);
    assertEquals("256MiB/512B", layouts.get(0).name());
  }
}
