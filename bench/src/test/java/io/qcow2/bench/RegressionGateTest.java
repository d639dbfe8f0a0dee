package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * The gate catches a real slowdown: check latency of legacy, windowed and the deliberately slowed
 * {@code slowed-windowed} is measured by two tiny forked JMH runs of {@link CheckLatencyBenchmark}
 * (real numbers, not constants). The first run gives the baseline windowed/legacy ratio; in the
 * second, the gate must fail when slowed-windowed is measured in windowed's place, and pass for
 * windowed itself.
 */
class RegressionGateTest {
  /**
   * Generous, because this runs inside the build on a machine other jobs share and the runs are
   * far shorter than the CI profile's. The slowed strategy is hundreds of times worse.
   */
  private static final double TOLERANCE = 4.0;
  private static final String WORKLOAD = "CheckLatencyBenchmark.check structures=10000 writeBytes=512";

  @TempDir
  Path tmp;

  /** A tiny forked JMH run of the check-latency benchmark at 10^4 structures. */
  private List<BenchResult> jmh(String name, String... strategies) throws Exception {
    Path json = tmp.resolve(name + ".json");
    new Runner(new OptionsBuilder()
        .include("^" + Pattern.quote("io.qcow2.bench.CheckLatencyBenchmark.check") + "$")
        .param(BenchResult.STRATEGY, strategies)
        .param("structures", "10000")
        .param("writeBytes", "512")
        .forks(1)
        .jvmArgsAppend("-Xmx1g")
        .warmupIterations(2)
        .warmupTime(TimeValue.milliseconds(100))
        .measurementIterations(3)
        .measurementTime(TimeValue.milliseconds(100))
        .shouldFailOnError(true)
        .verbosity(VerboseMode.SILENT)
        .result(json.toString())
        .resultFormat(ResultFormatType.JSON)
        .build()).run();
    return BenchResult.readJmhJson(json);
  }

  /** The results with strategy {@code from} renamed to {@code to}, others dropped but legacy. */
  private static List<BenchResult> as(List<BenchResult> results, String from, String to) {
    List<BenchResult> out = new ArrayList<>();
    for (BenchResult r : results) {
      if (r.strategy().equals("legacy")) {
        out.add(r);
      } else if (r.strategy().equals(from)) {
        Map<String, String> params = new java.util.HashMap<>(r.params());
        params.put(BenchResult.STRATEGY, to);
        out.add(new BenchResult(r.benchmark(), r.mode(), params, r.score(), r.error(), r.unit(),
            r.median()));
      }
    }
    return out;
  }

  @Test
  void gateFailsForTheSlowedStrategyAndPassesForTheRealOne() throws Exception {
    Baseline.Metric metric = RegressionGate.ratio(WORKLOAD, "windowed", "legacy", TOLERANCE);
    // The tolerance is set here, not widened to the tiny run's error as --update-baseline would.
    double[] ratio =
        GateComparison.measure(metric, jmh("baseline", "legacy", "windowed"), List.of());
    Baseline baseline =
        new Baseline("test", "test", List.of(metric.withValue(ratio[0], ratio[1])));

    List<BenchResult> again = jmh("again", "legacy", "windowed", SlowedWindowedProvider.NAME);
    GateComparison realGate =
        GateComparison.compare(baseline, as(again, "windowed", "windowed"), List.of());
    GateComparison slowedGate = GateComparison.compare(
        baseline, as(again, SlowedWindowedProvider.NAME, "windowed"), List.of());
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
    assertEquals(Set.of("ImageWorkloadBenchmark.w1CreatePreallocated",
        "ImageWorkloadBenchmark.w3RandomWrites"), plan.keySet());
    assertEquals(List.of("windowed"), new ArrayList<>(
        plan.get("ImageWorkloadBenchmark.w1CreatePreallocated").get("strategy")),
        "a share needs no reference run");
    assertEquals(List.of("none", "windowed"), new ArrayList<>(
        plan.get("ImageWorkloadBenchmark.w3RandomWrites").get("strategy")));
    assertEquals(Set.of("50000"), plan.get("ImageWorkloadBenchmark.w3RandomWrites").get("w3Writes"));
  }

  @Test
  void substituteIsMeasuredAndComparedUnderTheBaselineName() {
    assertEquals(List.of("none", SlowedWindowedProvider.NAME), RegressionGate.substituted(
        List.of("none", "windowed"), Map.of("windowed", SlowedWindowedProvider.NAME)));
    List<BenchResult> measured = BenchResult.parseJmhJson(new FakeResults()
        .check("legacy", 1000, 2000, 100)
        .check(SlowedWindowedProvider.NAME, 1000, 60, 1)
        .json());
    List<BenchResult> renamed = RegressionGate.asBaselineNames(measured,
        Map.of("windowed", SlowedWindowedProvider.NAME));
    assertEquals(List.of("legacy", "windowed"),
        renamed.stream().map(BenchResult::strategy).toList());
    assertEquals(60, renamed.get(1).score());
  }

  @Test
  void badSubstituteFailsFastWithTheNamesFound() throws Exception {
    assertEquals(2, RegressionGate.run("--baseline", "baseline.json", "--substitute", "windowed"));
    assertEquals(2, RegressionGate.run("--baseline", "baseline.json", "--substitute",
        "windowed=no-such-strategy"));
    assertEquals(2, RegressionGate.run("--baseline", "baseline.json", "--update-baseline",
        "--runs", "1"));
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
