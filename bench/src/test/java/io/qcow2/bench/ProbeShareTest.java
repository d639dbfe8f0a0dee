package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * The direct share agrees with the share against {@code none} where the answer is known: the
 * test strategy {@code fixed-burn} finds nothing and burns a fixed amount of CPU on every check,
 * so everything W3 costs beyond {@code none} is inside the strategy. A real forked JMH run of W3
 * (small) with the probe, as the report runs it.
 */
class ProbeShareTest {
  @TempDir
  Path tmp;

  @Test
  void directShareAgreesWithShareAgainstNoneForAFixedBurn() throws Exception {
    Path json = tmp.resolve("w3.json");
    new Runner(new OptionsBuilder()
        .include("^" + Pattern.quote("io.qcow2.bench.ImageWorkloadBenchmark.w3RandomWrites") + "$")
        .param(BenchResult.STRATEGY, Strategies.NONE, FixedBurnProvider.NAME)
        .param("w3MiB", "16")
        .param("w3Writes", "20000")
        // Three forks: the share against none compares separately forked runs, whose drift
        // between forks the error must include.
        .forks(3)
        .warmupIterations(3)
        .measurementIterations(6)
        .addProfiler(ProbeProfiler.class)
        .shouldFailOnError(true)
        .verbosity(VerboseMode.SILENT)
        .result(json.toString())
        .resultFormat(ResultFormatType.JSON)
        .build()).run();
    List<AbSummary.Macro> entries = AbSummary.macro(BenchResult.readJmhJson(json));
    assertEquals(2, entries.size(), entries.toString());
    AbSummary.Macro burn = entries.get(1);
    assertEquals(FixedBurnProvider.NAME, burn.strategy());
    String figures = String.format("direct %.2f ± %.2f %%, vs none %.2f ± %.2f %%", burn.share(),
        burn.shareError(), burn.shareVsNone(), burn.shareVsNoneError());
    System.out.println("fixed-burn W3: " + figures);
    // ~0.3 µs of burn per write against about 1 µs of work per write without checks.
    assertTrue(burn.share() > 8 && burn.share() < 80, figures);
    assertTrue(burn.shareError() < 5, "direct share is precise: " + figures);
    assertTrue(Math.abs(burn.share() - burn.shareVsNone())
        <= Math.hypot(burn.shareError(), burn.shareVsNoneError()), "agree within errors: " + figures);
  }
}
