package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each command and output format, run in-process; errors and exit statuses. */
class CliTest {
  @TempDir static Path dir;
  static Path image;

  @BeforeAll
  static void image() throws IOException {
    QemuTools.assumeAvailable();
    image = QemuTools.create(dir.resolve("a.qcow2"), "cluster_size=4096", "4M");
    QemuTools.io(image, "write -P 0x61 0 64k", "write -P 0x62 2M 4k");
    QemuTools.snapshot(image, "snap");
    QemuTools.io(image, "write -P 0x63 8k 4k");
  }

  @Test
  void strategiesListsEveryProviderOnePerLine() {
    Cli.Result result = Cli.run("strategies");
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals(String.join("\n", OverlapCheckers.names()) + "\n",
        result.out().replace("\r\n", "\n"));
    assertTrue(OverlapCheckers.names().contains("windowed"), OverlapCheckers.names().toString());
  }

  @Test
  void infoHumanShowsWhatQemuImgShowsAndTheChecker() {
    Cli.Result result = Cli.run("info", "--overlap-check=all", image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    String out = result.out();
    assertTrue(out.contains("virtual size: 4 MiB (4194304 bytes)"), out);
    assertTrue(out.contains("cluster_size: 4096"), out);
    assertTrue(out.contains("compat: 1.1"), out);
    assertTrue(out.contains("refcount bits: 16"), out);
    assertTrue(out.contains("snap"), out);
    assertTrue(out.contains("strategy: windowed"), out);
    assertTrue(out.contains("mode: all"), out);
    assertTrue(out.contains("memory: "), out);
  }

  @Test
  void infoJsonAgreesWithQemuImgInfo() throws IOException {
    String theirs = QemuTools.run("qemu-img", "info", "--output=json", image.toString());
    Cli.Result result = Cli.run("info", "--output=json", "--overlap-strategy", "windowed",
        image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    // Not actual-size: qemu-img counts allocated blocks, which depends on the file system.
    for (String key : new String[] {"virtual-size", "cluster-size", "refcount-bits"}) {
      assertEquals(number(theirs, key), number(result.out(), key), key);
    }
    for (String key : new String[] {"compat", "format", "name", "id"}) {
      assertEquals(string(theirs, key), string(result.out(), key), key);
    }
    assertEquals("windowed", string(result.out(), "strategy"));
    assertEquals("cached", string(result.out(), "mode"));
    assertTrue(number(result.out(), "memory-bytes") > 0, result.out());
  }

  @Test
  void infoSnapshotListIsQemuImgs() throws IOException {
    String theirs = QemuTools.run("qemu-img", "info", image.toString());
    Cli.Result ours = Cli.run("info", image.toString());
    assertEquals(0, ours.exitCode(), ours.toString());
    assertEquals(snapshotList(theirs), snapshotList(ours.out()));
    String theirsJson = QemuTools.run("qemu-img", "info", "--output=json", image.toString());
    Cli.Result oursJson = Cli.run("info", "--output=json", image.toString());
    assertEquals(theirsJson.substring(0, theirsJson.indexOf(']')),
        oursJson.out().substring(0, oursJson.out().indexOf(']')));
  }

  private static String snapshotList(String info) {
    int start = info.indexOf("Snapshot list:");
    return info.substring(start, info.indexOf("Format specific information:", start));
  }

  @Test
  void checkCleanImage() {
    Cli.Result human = Cli.run("check", image.toString());
    assertEquals(0, human.exitCode(), human.toString());
    assertTrue(human.out().startsWith("No errors were found on the image.\n"), human.out());
    assertTrue(human.out().contains("Image end offset: "), human.out());
    Cli.Result json = Cli.run("check", "--output=json", image.toString());
    assertEquals(0, json.exitCode(), json.toString());
    assertTrue(json.out().contains("\"check-errors\": 0"), json.out());
  }

  @Test
  void checkExitStatusesFollowQemuImg() throws IOException {
    Path corrupt = Files.copy(image, dir.resolve("corrupt.qcow2"));
    Path leaky = Files.copy(image, dir.resolve("leaky.qcow2"));
    QemuTools.io(leaky, "write -P 0x64 3M 4k");
    QemuTools.QemuCheck leakyBefore = QemuTools.check(leaky);
    assertEquals(0, leakyBefore.exitCode(), leakyBefore.stderr());
    // Clear the L2 entry of guest offset 3M: its data cluster leaks.
    dropL2Entry(leaky, 3 << 20);
    QemuTools.QemuCheck leakyTheirs = QemuTools.check(leaky);
    Cli.Result leakyOurs = Cli.run("check", "--output=json", leaky.toString());
    assertEquals(3, leakyTheirs.exitCode(), leakyTheirs.stderr());
    assertEquals(3, leakyOurs.exitCode(), leakyOurs.toString());
    assertTrue(leakyOurs.err().contains("Leaked cluster"), leakyOurs.err());

    // Point the L2 entry of guest offset 0 at the L1 table: corruptions.
    pointL2EntryAtL1(corrupt);
    QemuTools.QemuCheck corruptTheirs = QemuTools.check(corrupt);
    Cli.Result corruptOurs = Cli.run("check", corrupt.toString());
    assertEquals(2, corruptTheirs.exitCode(), corruptTheirs.stderr());
    assertEquals(2, corruptOurs.exitCode(), corruptOurs.toString());
    assertTrue(corruptOurs.out().contains("errors were found on the image."), corruptOurs.out());
    assertTrue(corruptOurs.err().contains("ERROR cluster"), corruptOurs.err());
  }

  @Test
  void checkThatCannotCompleteExitsWithOne() throws IOException {
    Path broken = Files.copy(image, dir.resolve("unaligned-refblock.qcow2"));
    try (RandomAccessFile file = new RandomAccessFile(broken.toFile(), "rw")) {
      file.seek(48);
      long refcountTable = file.readLong();
      file.seek(refcountTable);
      long block = file.readLong();
      file.seek(refcountTable);
      file.writeLong(block + 512); // refcounts of the first block become unreadable
    }
    QemuTools.QemuCheck theirs = QemuTools.check(broken);
    Cli.Result ours = Cli.run("check", broken.toString());
    assertEquals(1, theirs.exitCode(), theirs.stderr());
    assertEquals(1, ours.exitCode(), ours.toString());
    assertTrue(ours.err().contains("Can't get refcount for cluster 0: Input/output error"),
        ours.err());
    assertTrue(ours.err().endsWith("qcow2: Check failed\n"), ours.err());
    assertTrue(ours.out().contains("internal errors have occurred during the check."),
        ours.out());
  }

  @Test
  void checkOfSomethingThatIsNoImageExitsAsQemuImg() throws IOException {
    Path junk = Files.write(dir.resolve("junk.qcow2"), new byte[4096]);
    Cli.Result result = Cli.run("check", junk.toString());
    // qemu-img probes it as raw, a format without a check.
    assertEquals(63, QemuTools.exec("qemu-img", "check", junk.toString()).exitCode());
    assertEquals(63, result.exitCode(), result.toString());
    assertEquals("qcow2: This image format does not support checks\n", result.err());
  }

  @ParameterizedTest
  @ValueSource(strings = {"human", "json"})
  void mapInBothFormats(String format) throws IOException {
    Cli.Result result = Cli.run("map", "--output=" + format, image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    if (format.equals("json")) {
      String theirs = QemuTools.run("qemu-img", "map", "--output=json", image.toString());
      assertEquals(theirs.strip(), result.out().strip());
    } else {
      assertTrue(result.out().startsWith("Offset          Length          Mapped to       File"),
          result.out());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"human", "json"})
  void metadataInBothFormats(String format) {
    Cli.Result result = Cli.run("metadata", "--output=" + format, "-O", "overlap-check=all",
        image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertTrue(result.out().contains("main-header"), result.out());
    assertTrue(result.out().contains("inactive-l2"), result.out());
    Cli.Result cached = Cli.run("metadata", "--output=" + format, image.toString());
    assertTrue(!cached.out().contains("inactive-l2"), cached.out());
  }

  @Test
  void metadataWithModeNoneIsEmpty() {
    Cli.Result result = Cli.run("metadata", "--output=json", "--overlap-check", "none",
        image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("[]\n", result.out());
  }

  @Test
  void convertWritesTheGuestContents() throws IOException {
    Path raw = dir.resolve("out.raw");
    Cli.Result result = Cli.run("convert", image.toString(), raw.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("", result.out());
    assertEquals("", result.err(), "no progress bar when not on a terminal");
    Path theirs = QemuTools.convertToRaw(image, dir.resolve("theirs.raw"));
    assertEquals(-1, Files.mismatch(theirs, raw));
  }

  @Test
  void optionsAfterTheCommandReachTheEngine() {
    Cli.Result result = Cli.run("info", "--output=json", "-O",
        "overlap-check=constant,overlap-check.active-l2=on", image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("custom", string(result.out(), "mode"));
    assertTrue(result.out().contains("\"active-l2\""), result.out());
  }

  @Test
  void unknownStrategyFailsListingTheNames() {
    Cli.Result result = Cli.run("info", "--overlap-strategy", "nope", image.toString());
    assertEquals(1, result.exitCode(), result.toString());
    assertTrue(result.err().startsWith("qcow2: Overlap strategy 'nope' not found; available: "),
        result.err());
  }

  @Test
  void badOptionsExitWithOneAndAMessage() {
    Map<String[], String> cases = Map.of(
        new String[] {"info", "--overlap-check", "sometimes", image.toString()},
        "qcow2: Unsupported value 'sometimes' for qcow2 option 'overlap-check'",
        new String[] {"map", "-O", "novalue", image.toString()},
        "qcow2: Invalid open option 'novalue': expected key=value",
        new String[] {"info", "--overlap-check", "all", "-O", "overlap-check=none",
            image.toString()},
        "qcow2: Conflicting values for 'overlap-check'",
        new String[] {"check", "--output=xml", image.toString()},
        "qcow2: Invalid value for option '--output'",
        new String[] {"check", "-O", "overlap-checks=all", image.toString()},
        "qcow2: Unknown qcow2 open option 'overlap-checks'",
        new String[] {"check", "--overlap-strategy", "nope", image.toString()},
        "qcow2: Overlap strategy 'nope' not found",
        new String[] {"frobnicate"},
        "qcow2: Unmatched argument",
        new String[] {"info", dir.resolve("missing.qcow2").toString()},
        "qcow2: Could not open '");
    cases.forEach((args, message) -> {
      Cli.Result result = Cli.run(args);
      assertEquals(1, result.exitCode(), result.toString());
      assertTrue(result.err().startsWith(message), result.toString());
      assertEquals("", result.out(), result.toString());
    });
  }

  @Test
  void typedEngineErrorsExitWithOne() throws IOException {
    Path bad = Files.copy(image, dir.resolve("bad-version.qcow2"));
    try (RandomAccessFile file = new RandomAccessFile(bad.toFile(), "rw")) {
      file.seek(4);
      file.writeInt(7); // version 7
    }
    for (String command : new String[] {"info", "map", "metadata"}) {
      Cli.Result result = Cli.run(command, bad.toString());
      assertEquals(1, result.exitCode(), result.toString());
      assertTrue(result.err().startsWith("qcow2: "), result.toString());
      assertTrue(!result.err().contains("\tat "), "no stack trace for a typed error: " + result);
    }
  }

  @Test
  void helpListsTheCommands() {
    Cli.Result result = Cli.run("--help");
    assertEquals(0, result.exitCode(), result.toString());
    for (String command : new String[] {"strategies", "info", "check", "map", "metadata",
        "convert"}) {
      assertTrue(result.out().contains(command), result.out());
    }
  }

  private static void dropL2Entry(Path image, long guestOffset) throws IOException {
    try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
      long slot = l2Slot(file, guestOffset);
      file.seek(slot);
      file.writeLong(0);
    }
  }

  private static void pointL2EntryAtL1(Path image) throws IOException {
    try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
      file.seek(40);
      long l1Offset = file.readLong();
      long slot = l2Slot(file, 0);
      file.seek(slot);
      file.writeLong((1L << 63) | l1Offset);
    }
  }

  /** File offset of the L2 entry for {@code guestOffset} (4 KiB clusters). */
  private static long l2Slot(RandomAccessFile file, long guestOffset) throws IOException {
    file.seek(40);
    long l1Offset = file.readLong();
    file.seek(l1Offset + (guestOffset >> 21) * 8);
    long l2Offset = file.readLong() & 0x00ff_ffff_ffff_fe00L;
    return l2Offset + ((guestOffset >> 12) & 511) * 8;
  }

  private static long number(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\":\\s*(\\d+)").matcher(json);
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }

  private static String string(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\":\\s*\"([^\"]*)\"").matcher(json);
    return m.find() ? m.group(1) : null;
  }
}
