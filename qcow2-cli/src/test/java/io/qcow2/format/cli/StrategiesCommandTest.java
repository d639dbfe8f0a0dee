package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.OverlapCheckers;
import io.qcow2.overlap.StrategyOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code strategies --output=json}, {@code --strategy-path} on every command that opens an image,
 * and open options checked against the selected strategy's declared options. (Loading a strategy
 * jar through the CLI is shown end to end by bench's OutsideStrategyJarTest.)
 */
class StrategiesCommandTest {
  private static final String[] OPENING_COMMANDS = {"info", "create", "io", "resize", "check",
      "map", "metadata", "convert", "snapshot"};

  @TempDir Path dir;

  @Test
  void jsonListsEachStrategyWithItsDeclaredOptionsAndOrigin() {
    Cli.Result result = Cli.run("strategies", "--output=json");
    assertEquals(0, result.exitCode(), result.toString());
    String json = result.out();
    for (String name : OverlapCheckers.names()) {
      assertTrue(json.contains("\"name\": \"" + name + "\""), json);
      for (StrategyOption option : OverlapCheckers.load(name).options()) {
        assertTrue(json.contains("\"name\": \"" + option.name() + "\""), json);
        assertTrue(json.contains("\"default\": \"" + option.defaultValue() + "\""), json);
      }
    }
    assertTrue(json.contains("\"name\": \"overlap-window-size\""), json);
    assertTrue(json.contains("\"loaded\": false"), json);
    assertTrue(json.contains("\"origin\": \""), json);
  }

  @Test
  void everyCommandThatOpensAnImageAndStrategiesTakeAStrategyPath() {
    for (String command : OPENING_COMMANDS) {
      Cli.Result help = Cli.run(command, "--help");
      assertTrue(help.out().contains("--strategy-path"), command + ": " + help.out());
    }
    assertTrue(Cli.run("strategies", "--help").out().contains("--strategy-path"));
  }

  @Test
  void aBadStrategyPathIsNamedAndThePropertyIsRestored() {
    String before = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    Path missing = dir.resolve("no-such-dir");
    Cli.Result result = Cli.run("strategies", "--strategy-path", missing.toString());
    assertEquals(1, result.exitCode(), result.toString());
    assertTrue(result.err().startsWith("qcow2: Strategy path entry '" + missing + "'"),
        result.toString());
    assertFalse(result.err().contains("\tat "), result.toString());
    assertEquals(before, System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY));
    assertEquals(0, Cli.run("strategies", "--strategy-path", dir.toString()).exitCode());
    assertEquals(before, System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY));
  }

  @Test
  void openOptionsAreTheEnginesPlusTheSelectedStrategys() {
    Path image = dir.resolve("a.qcow2");
    Cli.Result windowed = Cli.run("create", "--overlap-strategy", "windowed",
        "-O", "overlap-window-size=64", image.toString(), "1M");
    assertEquals(0, windowed.exitCode(), windowed.toString());
    Cli.Result legacy = Cli.run("info", "--overlap-strategy", "legacy",
        "-O", "overlap-window-size=64", image.toString());
    assertEquals(1, legacy.exitCode(), legacy.toString());
    assertTrue(legacy.err().startsWith("qcow2: Unknown qcow2 open option 'overlap-window-size'"),
        legacy.err());
    assertTrue(legacy.err().contains("strategy 'legacy' accepts no options of its own"),
        legacy.err());
    Cli.Result typo = Cli.run("check", "--overlap-strategy", "windowed",
        "-O", "overlap-window-sise=64", image.toString());
    assertEquals(1, typo.exitCode(), typo.toString());
    assertTrue(typo.err().contains("strategy 'windowed' also accepts overlap-window-size, "
        + "overlap-cache-size"), typo.err());
  }
}
