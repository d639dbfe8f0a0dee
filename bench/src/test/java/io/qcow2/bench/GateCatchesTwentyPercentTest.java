package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * The committed baseline catches a 20 % regression on W3, the workload the series measured random
 * writes with: real forked JMH runs of W3 with the gate's (CI) settings, as {@code RegressionGate
 * --substitute windowed=NAME} measures them, for
 *
 * <ul>
 *   <li>{@code slower-checks}: windowed, 20 % slower per check;
 *   <li>{@code slower-w3}: windowed plus fixed work per check worth 20 % of W3's CPU time per
 *       write with windowed, measured in the first run.
 * </ul>
 *
 * Each must fail the gate against {@code bench/baseline.json}'s W3 metrics. The slowdown each
 * really caused is measured against windowed in the same run and must be about 20 % (not a
 * larger regression that would prove less).
 */
class GateCatchesTwentyPercentTest {
  private static final String W3 = "io.qcow2.bench.ImageWorkloadBenchmark.w3RandomWrites";

  @TempDir
  Path tmp;

  private List<BenchResult> w3(String name, List<String> strategies, String... jvmArgs)
      throws Exception {
    Path json = tmp.resolve(name + ".json");
    Profile.Timing timing = Profile.CI.macro();
    ChainedOptionsBuilder options = new OptionsBuilder()
        .include("^" + Pattern.quote(W3) + "$")
        .param(BenchResult.STRATEGY, strategies.toArray(new String[0]))
        .forks(timing.forks())
        .warmupIterations(timing.warmupIterations())
        .measurementIterations(timing.iterations())
        .addProfiler(ProbeProfiler.class)
        .shouldFailOnError(true)
        .verbosity(VerboseMode.SILENT)
        .result(json.toString())
        .resultFormat(ResultFormatType.JSON);
    Profile.CI.params("ImageWorkloadBenchmark").forEach((param, values) -> {
      if (param.startsWith("w3")) {
        options.param(param, values);
      }
    });
    if (jvmArgs.length > 0) {
      // Prepend: append would replace the benchmark's @Fork(jvmArgsAppend = ...), its fixed,
      // pre-touched heap, which the other run of the comparison has.
      options.jvmArgsPrepend(jvmArgs);
    }
    new Runner(options.build()).run();
    return BenchResult.readJmhJson(json);
  }

  @Test
  void slowerChecksAndSlowerW3FailTheCommittedBaseline() throws Exception {
    Baseline committed = Baseline.read(Path.of("baseline.json"));
    List<Baseline.Metric> w3Metrics = new ArrayList<>();
    for (Baseline.Metric m : committed.metrics()) {
      if (m.workload().startsWith("ImageWorkloadBenchmark.w3RandomWrites")) {
        w3Metrics.add(m);
      }
    }
    assertTrue(w3Metrics.size() >= 1, "the baseline gates W3");
    Baseline baseline = new Baseline(committed.comment(), committed.machine(), w3Metrics);

    // As .ci/run treats the gate: one measurement may land inside the tolerance by chance (a 20 %
    // regression sits a couple of standard deviations above the limit), so a miss is measured
    // once more; a strategy the gate misses twice fails the test.
    List<String> missed = measureAndCompare(baseline, "first", List.of(SlowerChecksProvider.NAME,
        SlowerW3Provider.NAME));
    if (!missed.isEmpty()) {
      System.out.println("not caught by the first measurement: " + missed + "; measuring again");
      missed = measureAndCompare(baseline, "second", missed);
    }
    assertTrue(missed.isEmpty(), "the gate missed, twice: " + missed);
  }

  /** Measures W3 for none, windowed and {@code slower}; returns those the gate did not catch. */
  private List<String> measureAndCompare(Baseline baseline, String round, List<String> slower)
      throws Exception {
    List<String> firstStrategies = new ArrayList<>(List.of(Strategies.NONE, "windowed"));
    if (slower.contains(SlowerChecksProvider.NAME)) {
      firstStrategies.add(SlowerChecksProvider.NAME);
    }
    List<BenchResult> first = w3(round + "-a", firstStrategies);
    BenchResult windowed = find(first, "windowed");
    List<BenchResult> all = new ArrayList<>(first);
    List<BenchResult> second = List.of();
    if (slower.contains(SlowerW3Provider.NAME)) {
      double cpuPerWriteNanos = windowed.secondary().get(ProbeProfiler.CPU).score() * 1e6
          / Integer.parseInt(windowed.params().get("w3Writes"));
      second = w3(round + "-b", List.of(SlowerW3Provider.NAME), String.format(
          Locale.ROOT, "-D%s=%.1f", SlowerW3Provider.NANOS_PROPERTY, 0.2 * cpuPerWriteNanos));
      all.addAll(second);
    }

    GateComparison unchanged = GateComparison.compare(baseline, all, List.of());
    System.out.println("windowed against the committed baseline:\n" + unchanged.toText());
    List<String> missed = new ArrayList<>();
    for (String name : slower) {
      List<BenchResult> substituted =
          RegressionGate.asBaselineNames(without(all, "windowed"), Map.of("windowed", name));
      GateComparison gate = GateComparison.compare(baseline, substituted, List.of());
      System.out.println(name + " measured as windowed (" + round + "):\n" + gate.toText());
      if (gate.exitCode() != 1) {
        missed.add(name);
      }
    }

    // How much slower they really were, next to windowed in the same runs: about 20 %, not a
    // larger regression that would prove less.
    if (slower.contains(SlowerChecksProvider.NAME)) {
      double checks = odds(find(first, SlowerChecksProvider.NAME)) / odds(windowed);
      String figure = String.format(Locale.ROOT, "in-strategy CPU per rest: slower-checks %.3fx windowed", checks);
      System.out.println(figure);
      assertTrue(checks > 1.05 && checks < 1.5, figure);
    }
    if (slower.contains(SlowerW3Provider.NAME)) {
      double w3 = cpu(find(second, SlowerW3Provider.NAME)) / cpu(windowed);
      String figure = String.format(Locale.ROOT, "W3 CPU: slower-w3 %.3fx windowed", w3);
      System.out.println(figure);
      // W3's CPU time of separately forked runs shifts by up to ~20 % between forks
      // (bench/README.md), so this ratio of two runs is only loosely 1.2 (measured 1.24-1.56).
      assertTrue(w3 > 1.0 && w3 < 1.8, figure);
    }
    return missed;
  }

  private static double odds(BenchResult r) {
    double share = r.secondary().get(ProbeProfiler.SHARE).score();
    return share / (100 - share);
  }

  private static double cpu(BenchResult r) {
    return r.secondary().get(ProbeProfiler.CPU).score();
  }

  private static BenchResult find(List<BenchResult> results, String strategy) {
    for (BenchResult r : results) {
      if (r.strategy().equals(strategy)) {
        return r;
      }
    }
    throw new AssertionError("no result for " + strategy + " in " + results);
  }

  private static List<BenchResult> without(List<BenchResult> results, String strategy) {
    List<BenchResult> out = new ArrayList<>();
    for (BenchResult r : results) {
      if (!r.strategy().equals(strategy)) {
        out.add(r);
      }
    }
    return out;
  }
}
