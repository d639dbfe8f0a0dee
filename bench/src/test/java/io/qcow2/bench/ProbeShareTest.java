package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.VerboseMode;
import org.openjdk.jmh.util.ListStatistics;

/**
 * The direct share finds what is known to be inside the strategy: the test strategy {@code
 * fixed-burn} finds nothing and burns a fixed amount of CPU on every check, whose cost is timed
 * here on the same code; {@code empty-checker} is the same checker without the burn (its own
 * direct share, the calls themselves, is taken out). Real forked JMH runs of W3 with the probe, as
 * the report runs them, interleaved (none, empty, burn, none, ...) over three rounds of forks.
 *
 * <p>The shares against {@code none} and against {@code empty-checker} (differences of totals
 * from separate forks) are printed beside it but not asserted: W3's thread CPU time shifts by up
 * to 20 % between forks, and with the burn the rest of each write was up to ~0.2 µs slower than
 * with the empty checker, so they came out 1-12 points off the direct share, beyond their errors
 * in about one run of three (bench/README.md).
 */
class ProbeShareTest {
  private static final int ROUNDS = 3;
  private static final int WRITES = 50_000;
  private static long sink;

  @TempDir
  Path tmp;

  /** One forked run of W3: the per-iteration values of the probe's secondary metrics. */
  private Map<?, ?> w3(String strategy, int round) throws Exception {
    Path json = tmp.resolve(strategy + round + ".json");
    new Runner(new OptionsBuilder()
        .include("^" + Pattern.quote("io.qcow2.bench.ImageWorkloadBenchmark.w3RandomWrites") + "$")
        .param(BenchResult.STRATEGY, strategy)
        .param("w3MiB", "64")
        .param("w3Writes", Integer.toString(WRITES))
        .forks(1)
        .warmupIterations(Profile.CI.macro().warmupIterations())
        .measurementIterations(Profile.CI.macro().iterations())
        .addProfiler(ProbeProfiler.class)
        .shouldFailOnError(true)
        .verbosity(VerboseMode.SILENT)
        .result(json.toString())
        .resultFormat(ResultFormatType.JSON)
        .build()).run();
    List<?> runs = (List<?>) Json.parse(Files.readString(json));
    return (Map<?, ?>) ((Map<?, ?>) runs.get(0)).get("secondaryMetrics");
  }

  private static void addRaw(ListStatistics into, Map<?, ?> secondary, String metric) {
    for (Object fork : (List<?>) ((Map<?, ?>) secondary.get(metric)).get("rawData")) {
      for (Object value : (List<?>) fork) {
        into.addValue(((Number) value).doubleValue());
      }
    }
  }

  @Test
  void directShareFindsAFixedBurn() throws Exception {
    ListStatistics noneCpu = new ListStatistics();
    ListStatistics emptyCpu = new ListStatistics();
    ListStatistics emptyShare = new ListStatistics();
    ListStatistics burnCpu = new ListStatistics();
    ListStatistics burnShare = new ListStatistics();
    for (int round = 0; round < ROUNDS; round++) {
      addRaw(noneCpu, w3(Strategies.NONE, round), ProbeProfiler.CPU);
      Map<?, ?> empty = w3(FixedBurnProvider.EMPTY, round);
      addRaw(emptyCpu, empty, ProbeProfiler.CPU);
      addRaw(emptyShare, empty, ProbeProfiler.SHARE);
      Map<?, ?> burn = w3(FixedBurnProvider.NAME, round);
      addRaw(burnCpu, burn, ProbeProfiler.CPU);
      addRaw(burnShare, burn, ProbeProfiler.SHARE);
    }
    double t = burnCpu.getMean();
    double tError = burnCpu.getMeanErrorAt(0.999);
    double[] vsEmpty = ReportTable.share(t, tError, emptyCpu.getMean(),
        emptyCpu.getMeanErrorAt(0.999));
    double[] vsNone = ReportTable.share(t, tError, noneCpu.getMean(),
        noneCpu.getMeanErrorAt(0.999));
    // What the burn adds inside the strategy, in percent of fixed-burn's time: its direct share
    // less the empty checker's own (scaled to fixed-burn's time).
    double burnOnly = burnShare.getMean() - emptyShare.getMean() * emptyCpu.getMean() / t;
    double burnOnlyError = Math.hypot(burnShare.getMeanErrorAt(0.999),
        emptyShare.getMeanErrorAt(0.999));
    String figures = String.format("direct %.2f ± %.2f %% (burn alone %.2f ± %.2f %%), vs empty "
        + "checker %.2f ± %.2f %%, vs none %.2f ± %.2f %% (W3 CPU: none %.1f, empty %.1f, "
        + "fixed-burn %.1f ms)", burnShare.getMean(), burnShare.getMeanErrorAt(0.999), burnOnly,
        burnOnlyError, 100 * vsEmpty[0], 100 * vsEmpty[1], 100 * vsNone[0], 100 * vsNone[1],
        noneCpu.getMean(), emptyCpu.getMean(), t);
    // The known answer: the burn's own CPU time per check, timed here on the same code, times the
    // checks (one per write), over fixed-burn's CPU time.
    ListStatistics burnNanos = new ListStatistics();
    for (int i = 0; i < 25; i++) {
      long start = System.nanoTime();
      for (int k = 0; k < 20_000; k++) {
        sink += Burn.rounds(sink + k, FixedBurnProvider.BURN_ROUNDS);
      }
      if (i >= 5) {
        burnNanos.addValue((System.nanoTime() - start) / 20_000.0);
      }
    }
    double known = 100 * WRITES * burnNanos.getMean() / 1e6 / t;
    double knownError = known * Math.hypot(burnNanos.getMeanErrorAt(0.999) / burnNanos.getMean(),
        tError / t);
    String all = figures + String.format("; known %.2f ± %.2f %% (%.1f ns per burn)", known,
        knownError, burnNanos.getMean());
    System.out.println("fixed-burn W3: " + all);
    // ~0.5 µs of burn per write against about 1.5 µs of work per write without checks.
    assertTrue(burnOnly > 8 && burnOnly < 80, all);
    assertTrue(burnOnlyError < 5, "direct share is precise: " + all);
    assertTrue(Math.abs(burnOnly - known) <= burnOnlyError + knownError,
        "the direct share finds the known burn: " + all);
  }
}
