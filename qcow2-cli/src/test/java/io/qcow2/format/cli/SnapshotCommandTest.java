package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qcow2 snapshot} on an image qemu-img made: after every operation {@code qcow2 metadata}
 * prints the same under the windowed and the legacy strategy with {@code overlap-check=all}, and
 * qemu-img lists and checks the result as we do.
 */
class SnapshotCommandTest {
  @TempDir Path dir;

  private static Cli.Result ok(String... args) {
    Cli.Result r = Cli.run(args);
    assertEquals(0, r.exitCode(), () -> String.join(" ", args) + "\n" + r);
    return r;
  }

  private static void assertStrategiesAgree(Path image, String context) {
    String windowed = ok("metadata", "-q", "--overlap-strategy", "windowed", "--overlap-check", "all",
        image.toString()).out();
    String legacy = ok("metadata", "-q", "--overlap-strategy", "legacy", "--overlap-check", "all",
        image.toString()).out();
    assertEquals(legacy, windowed, context);
  }

  private static void assertQemuClean(Path image) throws Exception {
    QemuTools.QemuCheck check = QemuTools.check(image);
    assertEquals(0, check.exitCode(), check.toString());
    assertEquals(0, check.get("corruptions") + check.get("leaks"), check.toString());
  }

  @Test
  void createListApplyDelete() throws Exception {
    QemuTools.assumeAvailable();
    Path image = QemuTools.create(dir.resolve("c.qcow2"), "cluster_size=4096", "1M");
    QemuTools.io(image, "write -P 0x5a 0 300k");
    for (String[] step : List.of(
        new String[] {"-c", "first"},
        new String[] {"-c", "second", "--overlap-check", "all", "--overlap-strategy", "legacy"},
        new String[] {"-a", "first"},
        new String[] {"-d", "2"})) {
      List<String> args = new java.util.ArrayList<>(List.of("snapshot"));
      args.addAll(List.of(step));
      args.add(image.toString());
      ok(args.toArray(String[]::new));
      assertStrategiesAgree(image, String.join(" ", step));
      assertQemuClean(image);
      QemuTools.io(image, "write -P 0x" + Integer.toHexString(step[1].length()) + " 100k 200k");
      assertStrategiesAgree(image, "write after " + String.join(" ", step));
    }
    String ours = ok("snapshot", "-l", image.toString()).out();
    String qemu = QemuTools.run("qemu-img", "snapshot", "-l", image.toString());
    assertEquals(columns(qemu), columns(ours));
    assertTrue(ours.contains("first") && !ours.contains("second"), ours);
  }

  @Test
  void errorsAreReported() throws Exception {
    QemuTools.assumeAvailable();
    Path image = QemuTools.create(dir.resolve("e.qcow2"), "", "1M");
    ok("snapshot", "-c", "s", image.toString());
    Cli.Result duplicate = Cli.run("snapshot", "-c", "s", image.toString());
    assertEquals(1, duplicate.exitCode(), duplicate.toString());
    assertTrue(duplicate.err().contains("already exists"), duplicate.toString());
    Cli.Result missing = Cli.run("snapshot", "-a", "nope", image.toString());
    assertEquals(1, missing.exitCode(), missing.toString());
    assertTrue(missing.err().contains("Can't find the snapshot 'nope'"), missing.toString());
    Cli.Result two = Cli.run("snapshot", "-l", "-d", "s", image.toString());
    assertEquals(1, two.exitCode(), two.toString());
    assertEquals("", ok("snapshot", "-l", QemuTools.create(dir.resolve("n.qcow2"), "", "1M").toString()).out());
  }

  /** The listing without the date and time columns (taken in our time zone vs qemu-img's). */
  private static List<String> columns(String listing) {
    return listing.lines()
        .map(l -> l.replaceAll("\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}", "DATE"))
        .toList();
  }
}
