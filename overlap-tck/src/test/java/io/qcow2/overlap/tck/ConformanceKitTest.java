package io.qcow2.overlap.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.OverlapCheckers;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runnable kit, in process, on strategy jars compiled in the test: it passes a correct one,
 * fails a wrong one (writing the failing run's seed and operations to a file it names), and
 * rejects an unknown name.
 */
class ConformanceKitTest {
  private static final Pattern CLOSING = Pattern.compile("(\\d+) passed, (\\d+) failed");

  @TempDir Path dir;

  record Run(int status, String out, String err, long passed, long failed) {}

  private Run kit(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    String pathBefore = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    int status = ConformanceKit.execute(args, new PrintWriter(out), new PrintWriter(err));
    assertEquals(pathBefore, System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY),
        "the kit restores the strategy path property");
    List<String> lines = out.toString().lines().toList();
    long passed = -1;
    long failed = -1;
    if (!lines.isEmpty()) {
      Matcher closing = CLOSING.matcher(lines.get(lines.size() - 1));
      if (closing.matches()) {
        passed = Long.parseLong(closing.group(1));
        failed = Long.parseLong(closing.group(2));
      }
    }
    return new Run(status, out.toString(), err.toString(), passed, failed);
  }

  @Test
  void aCorrectOutsideStrategyPasses() throws Exception {
    Path strategies = Files.createDirectory(dir.resolve("strategies"));
    OutsideStrategies.interval(strategies, "outside-interval", false);
    Run run = kit("--strategy-path", strategies.toString(), "--strategy", "outside-interval",
        "--operations", "20000", "--failure-dir", dir.toString());
    assertEquals(0, run.status(), run.out() + run.err());
    assertTrue(run.passed() > 40, run.out());
    assertEquals(0, run.failed(), run.out());
    assertTrue(run.out().contains("probe huge range: enter(0, 2^47 clusters)"), run.out());
    assertTrue(run.out().contains("memoryBytes"), run.out());
  }

  @Test
  void aWrongOutsideStrategyFailsAndWritesItsSeedAndOperations() throws Exception {
    Path strategies = Files.createDirectory(dir.resolve("strategies"));
    OutsideStrategies.interval(strategies, "outside-off-by-one", true);
    Path failures = dir.resolve("failures");
    Run run = kit("--strategy-path", strategies.toString(), "--strategy", "outside-off-by-one",
        "--operations", "20000", "--seed", "42", "--failure-dir", failures.toString());
    assertEquals(ConformanceKit.EXIT_FAILED, run.status(), run.out() + run.err());
    assertTrue(run.failed() > 0, run.out());
    assertTrue(run.out().contains("FAILED"), run.out());
    List<Path> files;
    try (var list = Files.list(failures)) {
      files = list.toList();
    }
    assertTrue(!files.isEmpty(), "no failure file in " + failures);
    Path file = files.get(0);
    assertTrue(run.out().contains(file.toString()), "the kit says where: " + run.out());
    String text = Files.readString(file);
    assertTrue(text.contains("seed 42") && text.contains("operations 20000")
        && text.contains("# failure") && text.lines().anyMatch(l -> l.matches("\\d+: .+")), text);
  }

  @Test
  void aCorrectButSlowStrategyPassesWithAWarningInsteadOfHangingTheKit() throws Exception {
    Path strategies = Files.createDirectory(dir.resolve("strategies"));
    OutsideStrategies.interval(strategies, "outside-sleepy", false, true);
    Run run = kit("--strategy-path", strategies.toString(), "--strategy", "outside-sleepy",
        "--operations", "5000", "--probe-seconds", "2", "--failure-dir", dir.toString());
    assertEquals(0, run.status(), run.out() + run.err());
    assertEquals(0, run.failed(), run.out());
    assertTrue(run.out().contains("WARNING: probe huge range: not finished after 2 s"), run.out());
    assertTrue(run.out().contains("probe many structures: entering"), run.out());
  }

  @Test
  void anUnknownStrategyIsAUsageErrorListingTheNames() {
    Run run = kit("--strategy", "no-such-strategy");
    assertEquals(ConformanceKit.EXIT_USAGE, run.status());
    assertTrue(run.err().contains("'no-such-strategy' not found"), run.err());
  }

  @Test
  void theStrategyIsRequired() {
    Run run = kit("--operations", "10");
    assertEquals(ConformanceKit.EXIT_USAGE, run.status());
    assertTrue(run.err().contains("--strategy"), run.err());
  }
}
