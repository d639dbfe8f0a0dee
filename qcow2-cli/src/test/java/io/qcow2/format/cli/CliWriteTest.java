package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code create}, {@code io} and {@code resize} run in-process on real files, each result checked
 * with qemu-img and qemu-io: images pass {@code qemu-img check}, {@code qemu-img info} shows what
 * was asked, and qemu-io reads back what {@code io} wrote (and the other way round).
 */
class CliWriteTest {
  private static final long COPIED = 1L << 63;

  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  static List<String> strategies() {
    return List.copyOf(OverlapCheckers.names());
  }

  // --- create ------------------------------------------------------------------------------------

  @Test
  void createWithOptionsIsCleanAndQemuImgInfoShowsThem() throws IOException {
    Path image = dir.resolve("a.qcow2");
    Cli.Result result = Cli.run("create", "-o", "cluster_size=4k,refcount_bits=8",
        "-o", "compat=1.1,lazy_refcounts=on", image.toString(), "3M");
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("Formatting '" + image + "', fmt=qcow2 cluster_size=4096 extended_l2=off "
        + "compression_type=zlib size=3145728 compat=1.1 lazy_refcounts=on refcount_bits=8\n",
        result.out());
    assertClean(image);
    String info = info(image);
    assertTrue(info.contains("\"virtual-size\": 3145728"), info);
    assertTrue(info.contains("\"cluster-size\": 4096"), info);
    assertTrue(info.contains("\"refcount-bits\": 8"), info);
    assertTrue(info.contains("\"lazy-refcounts\": true"), info);
    assertTrue(info.contains("\"compat\": \"1.1\""), info);
  }

  @Test
  void createCompat010WithBackingFileTakesTheBackingSize() throws IOException {
    Path base = QemuTools.create(dir.resolve("base.qcow2"), "", "5M");
    Path image = dir.resolve("top.qcow2");
    Cli.Result result = Cli.run("create", "-q",
        "-o", "compat=0.10,backing_file=base.qcow2,backing_fmt=qcow2", image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("", result.out());
    assertClean(image);
    String info = info(image);
    assertTrue(info.contains("\"virtual-size\": 5242880"), info);
    assertTrue(info.contains("\"compat\": \"0.10\""), info);
    assertTrue(info.contains("\"backing-filename\": \"base.qcow2\""), info);
    assertTrue(info.contains("\"backing-filename-format\": \"qcow2\""), info);
    QemuTools.io(base, "write -P 0x42 1M 64k");
    assertIo(image, 0, "read -P 0x42 1M 64k");
  }

  /** preallocation=metadata writes every L2 table and data cluster through the chosen checker. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("strategies")
  void createPreallocatedThroughEachStrategyIsClean(String strategy) throws IOException {
    Path image = dir.resolve("p.qcow2");
    Cli.Result result = Cli.run("create", "--overlap-strategy", strategy, "--overlap-check", "all",
        "-o", "cluster_size=512,preallocation=metadata", image.toString(), "2M");
    assertEquals(0, result.exitCode(), result.toString());
    assertTrue(result.out().contains(" preallocation=metadata "), result.out());
    assertClean(image);
    String map = QemuTools.run("qemu-img", "map", "--output=json", image.toString());
    assertTrue(map.contains("\"data\": true") && !map.contains("\"data\": false"), map);
  }

  @Test
  void createRefusesBadOptionsWithoutWritingAFile() {
    Path image = dir.resolve("bad.qcow2");
    Cli.Result unknown = Cli.run("create", "-o", "cluster_sise=4k", image.toString(), "1M");
    assertEquals(1, unknown.exitCode(), unknown.toString());
    assertTrue(unknown.err().startsWith("qcow2: Unknown qcow2 create option 'cluster_sise'; "
        + "allowed: backing_file, "), unknown.err());

    Cli.Result strategy = Cli.run("create", "--overlap-strategy", "nosuch", image.toString(), "1M");
    assertEquals(1, strategy.exitCode(), strategy.toString());
    assertTrue(strategy.err().contains("nosuch"), strategy.err());
    assertFalse(Files.exists(image), "a refused open option must not leave a file");

    Cli.Result noSize = Cli.run("create", image.toString());
    assertEquals(1, noSize.exitCode(), noSize.toString());
    assertEquals("qcow2: Image creation needs a size parameter\n", noSize.err());

    Cli.Result badSize = Cli.run("create", image.toString(), "12q");
    assertEquals(1, badSize.exitCode(), badSize.toString());
    assertTrue(badSize.err().startsWith("qcow2: Invalid image size '12q'"), badSize.err());
  }

  // --- io ----------------------------------------------------------------------------------------

  @Test
  void ioWritesWhatQemuIoReadsAndReadsWhatQemuIoWrote() throws IOException {
    Path image = created("io.qcow2", "cluster_size=4096", "4M");
    Cli.Result result = io(image, "write -P 0xab 0 64k", "write 1M 4k", "write -P 17 0x3100 512",
        "read -P 0xab 0 0x3100", "read -P 0x11 0x3100 512", "read -P 0xcd 1M 4k");
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("wrote 65536/65536 bytes at offset 0\n"
        + "wrote 4096/4096 bytes at offset 1048576\n"
        + "wrote 512/512 bytes at offset 12544\n"
        + "read 12544/12544 bytes at offset 0\n"
        + "read 512/512 bytes at offset 12544\n"
        + "read 4096/4096 bytes at offset 1048576\n", result.out());
    assertEquals("", result.err());
    QemuTools.io(image, "read -P 0xab 0 0x3100", "read -P 0x11 0x3100 512",
        "read -P 0xab 0x3300 0xcd00", "read -P 0xcd 1M 4k", "read -P 0 1028k 3068k");
    assertClean(image);

    QemuTools.io(image, "write -P 0x77 2M 68k", "write -P 0x78 4095 2");
    assertIo(image, 0, "read -P 0x77 2M 68k", "read -P 0x78 4095 2", "read -P 0xab 4097 8k");
  }

  @Test
  void patternMismatchIsReportedWithItsOffsetAndExits1() throws IOException {
    Path image = created("m.qcow2", "cluster_size=4096", "1M");
    assertIo(image, 0, "write -P 0xab 8k 4k");
    Cli.Result result = io(image, "read -P 0 0 64k", "read -P 0xab 8k 4k");
    assertEquals(1, result.exitCode(), result.toString());
    assertEquals("Pattern verification failed at offset 0, 65536 bytes\n"
        + "First mismatch at offset 8192: expected 0x00, read 0xab\n"
        + "read 65536/65536 bytes at offset 0\n"
        + "read 4096/4096 bytes at offset 8192\n", result.out());
    // qemu-io reports the same request the same way.
    QemuTools.Output theirs = QemuTools.exec("qemu-io", "-f", "qcow2", "-c", "read -P 0 0 64k",
        image.toString());
    assertTrue(theirs.stdout().contains("Pattern verification failed at offset 0, 65536 bytes"),
        theirs.toString());
  }

  @Test
  void discardAndWriteZeroesReadBackZeros() throws IOException {
    Path image = created("z.qcow2", "cluster_size=4096", "1M");
    assertIo(image, 0, "write -P 0xab 0 256k", "write -z 0 64k", "write -z 70000 1000",
        "discard 128k 64k", "read -P 0 0 64k", "read -P 0 70000 1000", "read -P 0 128k 64k",
        "read -P 0xab 64k 4464", "read -P 0xab 71000 0xeaa8", "read -P 0xab 192k 64k");
    QemuTools.io(image, "read -P 0 0 64k", "read -P 0 70000 1000", "read -P 0 128k 64k",
        "read -P 0xab 192k 64k");
    assertClean(image);
    String map = QemuTools.run("qemu-img", "map", "--output=json", image.toString());
    // Both ranges hold no data clusters any more: qemu-img map says zero, not data.
    assertTrue(map.matches("(?s).*\"start\": 0, \"length\": 65536, [^}]*\"zero\": true, "
        + "\"data\": false}.*"), map);
    assertTrue(map.matches("(?s).*\"start\": 131072, \"length\": 65536, [^}]*\"zero\": true, "
        + "\"data\": false}.*"), map);
  }

  @Test
  void ioErrorsStopBeforeAnyCommandRuns() throws IOException {
    Path image = created("e.qcow2", "cluster_size=4096", "1M");
    Cli.Result unknown = io(image, "write 0 4k", "frob 0 4k");
    assertEquals(1, unknown.exitCode(), unknown.toString());
    assertEquals("", unknown.out());
    assertEquals("qcow2: Unknown io command 'frob'; allowed: discard, read, write\n", unknown.err());

    String[][] bad = {
        {"write 0 4q", "qcow2: Invalid write length '4q'"},
        {"read -P 256 0 1", "qcow2: read: '256' is not a valid pattern byte"},
        {"write -P 1 -z 0 4k", "qcow2: write: -P and -z cannot be specified at the same time"},
        {"discard -P 1 0 4k", "qcow2: discard: unknown option '-P'"},
        {"read 0", "qcow2: read: expected OFFSET and LENGTH, got 1 argument(s)"},
        {"write 1020k 8k", "qcow2: Range [1044480, +8192) is outside the image's virtual size"},
    };
    for (String[] c : bad) {
      Cli.Result result = io(image, c[0]);
      assertEquals(1, result.exitCode(), c[0] + ": " + result);
      assertTrue(result.err().startsWith(c[1]), c[0] + ": " + result);
    }
    Cli.Result readOnly = Cli.run("io", "-r", image.toString(), "-c", "write 0 1");
    assertEquals(1, readOnly.exitCode(), readOnly.toString());
    assertTrue(readOnly.err().startsWith("qcow2: Image is open read-only"), readOnly.toString());
    QemuTools.io(image, "read -P 0 0 1M");
    assertClean(image);
  }

  /**
   * As the engine's CorruptionTest: guest cluster 0's L2 entry (of a copy of the image) edited to
   * point at the L1 table. The write through it is refused, its message printed, the commands
   * after it not run, and the image marked corrupt.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("strategies")
  void overlapRefusedWritePrintsTheMessageAndStops(String strategy) throws IOException {
    Path original = created("o.qcow2", "cluster_size=4096", "4M");
    assertIo(original, 0, "write -P 0x3c 0 4k", "write -P 0x3d 1M 12k");
    Path image = QemuTools.copy(original, dir.resolve("copy.qcow2"));
    long l1 = readLong(image, 40);
    long l2 = readLong(image, l1) & MetadataView.L1_OFFSET_MASK;
    writeLong(image, l2, l1 | COPIED);

    Cli.Result result = Cli.run("io", "--overlap-strategy", strategy, image.toString(),
        "-c", "read -P 0x3d 1M 12k", "-c", "write -P 1 512 4", "-c", "write 1M 1");
    assertEquals(1, result.exitCode(), result.toString());
    assertEquals("read 12288/12288 bytes at offset 1048576\n", result.out());
    assertEquals(String.format("qcow2: Preventing invalid write on metadata (overlaps with %s) at "
        + "offset 0x%x; image marked as corrupt\n", MetadataType.ACTIVE_L1.description(), l1 + 512),
        result.err());
    String info = QemuTools.run("qemu-img", "info", image.toString());
    assertTrue(info.contains("corrupt: true"), info);
    String readBack = QemuTools.run("qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0x3d 1M 12k",
        image.toString());
    assertFalse(readBack.contains("failed"), readBack);
    assertClean(original);
  }

  // --- resize ------------------------------------------------------------------------------------

  @Test
  void resizeGrowsAndQemuImgInfoShowsTheNewSize() throws IOException {
    Path image = created("r.qcow2", "cluster_size=512", "1M");
    assertIo(image, 0, "write -P 0x5a 1020k 4k");
    Cli.Result relative = Cli.run("resize", image.toString(), "+1M");
    assertEquals(0, relative.exitCode(), relative.toString());
    assertEquals("Image resized.\n", relative.out());
    assertTrue(info(image).contains("\"virtual-size\": 2097152"), info(image));

    // 64 MiB of 512-byte clusters outgrows the L1 table's cluster: the table moves.
    Cli.Result absolute = Cli.run("resize", "-q", image.toString(), "64M");
    assertEquals(0, absolute.exitCode(), absolute.toString());
    assertEquals("", absolute.out());
    assertTrue(info(image).contains("\"virtual-size\": 67108864"), info(image));
    assertClean(image);
    assertIo(image, 0, "write -P 0x5b 63M 1M");
    QemuTools.io(image, "read -P 0x5a 1020k 4k", "read -P 0 1M 62M", "read -P 0x5b 63M 1M");
    assertClean(image);
  }

  @ParameterizedTest
  @ValueSource(strings = {"1M", "-1M", "+0x10", "67109377", "nine"})
  void resizeRefusesShrinkingWithoutTheFlagAndBadSizes(String size) throws IOException {
    Path image = created("s.qcow2", "", "64M");
    Cli.Result result = Cli.run("resize", image.toString(), size);
    assertEquals(1, result.exitCode(), result.toString());
    String expected = size.equals("1M") || size.equals("-1M")
        ? "qcow2: Use the --shrink option to perform a shrink operation.\n"
        : size.equals("nine") ? "qcow2: Invalid size 'nine'"
        : "qcow2: The new size must be a multiple of 512";
    assertTrue(result.err().startsWith(expected), result.toString());
    assertTrue(info(image).contains("\"virtual-size\": 67108864"), info(image));
    assertClean(image);
  }

  // --- helpers -----------------------------------------------------------------------------------

  private Path created(String name, String options, String size) throws IOException {
    Path image = dir.resolve(name);
    List<String> args = new ArrayList<>(List.of("create", "-q"));
    if (!options.isEmpty()) {
      args.addAll(List.of("-o", options));
    }
    args.add(image.toString());
    args.add(size);
    Cli.Result result = Cli.run(args.toArray(String[]::new));
    assertEquals(0, result.exitCode(), result.toString());
    return image;
  }

  private static Cli.Result io(Path image, String... commands) {
    List<String> args = new ArrayList<>(List.of("io", image.toString()));
    for (String command : commands) {
      args.add("-c");
      args.add(command);
    }
    return Cli.run(args.toArray(String[]::new));
  }

  private static void assertIo(Path image, int exitCode, String... commands) {
    Cli.Result result = io(image, commands);
    assertEquals(exitCode, result.exitCode(), result.toString());
    assertFalse(result.out().contains("Pattern verification failed"), result.toString());
  }

  private static String info(Path image) throws IOException {
    return QemuTools.run("qemu-img", "info", "--output=json", image.toString());
  }

  private static void assertClean(Path image) throws IOException {
    QemuTools.Output check = QemuTools.exec("qemu-img", "check", image.toString());
    assertEquals(0, check.exitCode(), check.toString());
    assertTrue(check.stdout().contains("No errors were found on the image."), check.toString());
    assertFalse(check.stdout().contains("leaked"), check.toString());
  }

  private static long readLong(Path file, long offset) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      f.seek(offset);
      return f.readLong();
    }
  }

  private static void writeLong(Path file, long offset, long value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.writeLong(value);
    }
  }
}
