package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AbReportTest {
  @TempDir
  Path tmp;

  @Test
  void parsesOptions() {
    AbReport.Args defaults = AbReport.Args.parse();
    assertEquals(Profile.QUICK, defaults.profile());
    assertEquals(AbReport.DEFAULT_OUT, defaults.out());
    assertNull(defaults.include());
    assertTrue(defaults.memory() && defaults.qemu());

    AbReport.Args args = AbReport.Args.parse("--profile", "full", "--include", "w1|Check",
        "--strategies", "none,windowed", "--out", "x", "--no-memory", "--no-qemu");
    assertEquals(Profile.FULL, args.profile());
    assertEquals("w1|Check", args.include().pattern());
    assertEquals(List.of("none", "windowed"), args.strategies());
    assertEquals(Path.of("x"), args.out());
    assertFalse(args.memory() || args.qemu());

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> AbReport.Args.parse("--profile", "slow"));
    assertTrue(e.getMessage().contains("available: quick, full, ci"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> AbReport.Args.parse("--include"));
    assertThrows(IllegalArgumentException.class, () -> AbReport.Args.parse("--bogus"));
  }

  @Test
  void rendersFromExistingResultsWithoutRunning() throws Exception {
    Path json = tmp.resolve("in.json");
    Files.writeString(json, new FakeResults()
        .check("legacy", 1000, 2000, 100).check("windowed", 1000, 20, 1)
        .check("legacy", 10000, 20000, 100).check("windowed", 10000, 21, 1)
        .w1("none", 100, 5).w1("legacy", 200, 5).w1("windowed", 101, 5)
        .json());
    Path out = tmp.resolve("out");
    AbReport.main(new String[] {"--results", json.toString(), "--out", out.toString(),
        "--no-memory"});
    String text = Files.readString(out.resolve("ab-report.txt"));
    assertTrue(text.contains("50.0 % ± "), text);
    String html = Files.readString(out.resolve("ab-report.html"));
    assertTrue(html.contains("<svg class=\"chart\""), "scaling curve rendered");
    assertEquals(Files.readString(json), Files.readString(out.resolve("ab-report.json")));
  }
}
