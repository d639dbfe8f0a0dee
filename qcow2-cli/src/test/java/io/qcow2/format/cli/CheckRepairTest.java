package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code check -r leaks|all} against {@code qemu-img check -r} on two copies of the same damaged
 * image: the same stdout, the same messages on stderr (but for the program name), the same exit
 * status; afterwards both copies get the same {@code qemu-img check} verdict and hold the same guest
 * content ({@code qemu-img compare}).
 *
 * <p>The images are built as QEMU's iotest 060 builds them: {@code qemu-img create} 64 MiB with
 * 64 KiB clusters, then {@code write -P 0x11 0 128k} and {@code write -P 0x22 1M 64k}: the refcount
 * table is at 0x10000, the refcount block at 0x20000, the L1 table at 0x30000, the L2 table at
 * 0x40000, the data at 0x50000, 0x60000 and 0x70000 (guest 1M, L2 entry 16).
 */
class CheckRepairTest {
  private static final long COPIED = 1L << 63;
  private static final long REFTABLE = 0x10000;
  private static final long REFBLOCK = 0x20000;
  private static final long L1 = 0x30000;
  private static final long L2 = 0x40000;

  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  /** One way to damage the image: 16-bit refcount entries, 64-bit table entries, the header. */
  interface Damage {
    void apply(RandomAccessFile file) throws IOException;
  }

  static Stream<Arguments> damages() {
    return Stream.of(
        damage("leaked data cluster", f -> putLong(f, L2 + 16 * 8, 0)),
        damage("leaked cluster past the last one in use", f -> {
          putLong(f, L2 + 16 * 8, 0);
          putShort(f, REFBLOCK + 2 * 6, 0);
          putLong(f, L2 + 8, COPIED | 0x70000);
        }),
        damage("refcount too high", f -> putShort(f, REFBLOCK + 2 * 5, 3)),
        damage("refcount of the L2 table too high", f -> putShort(f, REFBLOCK + 2 * 4, 2)),
        damage("refcount 0 of a data cluster (rebuild)", f -> putShort(f, REFBLOCK + 2 * 5, 0)),
        damage("refcount 0 of the L1 table (rebuild)", f -> putShort(f, REFBLOCK + 2 * 3, 0)),
        damage("refcount 0 of the refcount block (rebuild)", f -> putShort(f, REFBLOCK + 2 * 2, 0)),
        damage("COPIED clear on refcount 1", f -> {
          putLong(f, L1, 0x40000);
          putLong(f, L2, 0x50000);
        }),
        damage("COPIED set on a leak and refcount 2", f -> {
          putShort(f, REFBLOCK + 2 * 5, 2);
          putShort(f, REFBLOCK + 2 * 4, 2);
        }),
        damage("leak, COPIED errors and the corrupt bit", f -> {
          putLong(f, L1, 0x40000);
          putLong(f, L2, 0x50000);
          putLong(f, L2 + 16 * 8, 0);
          putLong(f, 72, 2);
        }),
        damage("corrupt bit on a clean image", f -> putLong(f, 72, 2)),
        damage("dirty and corrupt bits with a leak", f -> {
          putLong(f, L2 + 16 * 8, 0);
          putLong(f, 72, 3);
        }),
        damage("misaligned preallocated zero cluster (060)", f -> putLong(f, L2 + 8, 0x52a01)),
        damage("misaligned data cluster (060, not repairable)", f -> putLong(f, L2 + 8, 0x52a00)),
        damage("L2 entry pointing at the refcount block (060)",
            f -> putLong(f, L2 + 8, COPIED | REFBLOCK)),
        damage("L2 entry pointing at the L1 table (060)", f -> putLong(f, L2 + 8, COPIED | L1)),
        damage("L1 entry pointing at the refcount table (060)",
            f -> putLong(f, L1 + 8, COPIED | REFTABLE)),
        damage("refcount block refcount 2 (rebuild)", f -> putShort(f, REFBLOCK + 2 * 2, 2)));
  }

  private static Arguments damage(String name, Damage damage) {
    return Arguments.of(name, damage);
  }

  @ParameterizedTest(name = "{0} -r {2}")
  @MethodSource("cases")
  void repairsAsQemuImg(String name, Damage damage, String mode) throws IOException {
    Path ours = image("ours.qcow2", damage);
    Path theirs = QemuTools.copy(ours, dir.resolve("theirs.qcow2"));

    QemuTools.Output qemu = QemuTools.exec("qemu-img", "check", "-r", mode, theirs.toString());
    Cli.Result result = Cli.run("check", "-r", mode, ours.toString());
    String context = name + "\nqemu-img: exit " + qemu.exitCode() + "\n" + qemu.stdout()
        + qemu.stderr() + "\nours: " + result;
    assertEquals(qemu.stdout(), result.out(), context);
    assertEquals(messages(qemu.stderr()), messages(result.err()), context);
    assertEquals(qemu.exitCode(), result.exitCode(), context);

    QemuTools.Output afterTheirs = QemuTools.exec("qemu-img", "check", theirs.toString());
    QemuTools.Output afterOurs = QemuTools.exec("qemu-img", "check", ours.toString());
    assertEquals(afterTheirs.exitCode(), afterOurs.exitCode(), context + "\nafter:\n"
        + afterOurs.stdout() + afterOurs.stderr());
    assertEquals(afterTheirs.stdout().replace("theirs", "ours"), afterOurs.stdout(), context);
    assertEquals(info(theirs), info(ours), context);
    if (afterTheirs.exitCode() != 0 && afterTheirs.exitCode() != 3) {
      return; // qemu-img cannot read its own copy (it marks it corrupt): nothing to compare
    }
    QemuTools.Output compare = QemuTools.exec("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2",
        theirs.toString(), ours.toString());
    assertEquals(0, compare.exitCode(), context + "\n" + compare.stdout() + compare.stderr());
  }

  static Stream<Arguments> cases() {
    return damages().flatMap(d -> Stream.of("leaks", "all")
        .map(mode -> Arguments.of(d.get()[0], d.get()[1], mode)));
  }

  /**
   * A departure from qemu-img 7.2: a refcount table entry with reserved bits still protects its
   * block in QEMU's overlap check, while the rebuild sees the block as free and places the new
   * block there; QEMU refuses its own write ("Check failed"), we rebuild and the image is clean.
   */
  @Test
  void rebuildsWhereQemuImgRefusesItsOwnRefcountBlock() throws IOException {
    Path ours = image("ours.qcow2", f -> putLong(f, REFTABLE, REFBLOCK | 1));
    Path theirs = QemuTools.copy(ours, dir.resolve("theirs.qcow2"));
    Path pristine = image("pristine.qcow2", f -> { });
    QemuTools.Output qemu = QemuTools.exec("qemu-img", "check", "-r", "all", theirs.toString());
    assertEquals(1, qemu.exitCode(), qemu.stderr());
    assertTrue(qemu.stderr().contains("ERROR writing refblock"), qemu.stderr());

    Cli.Result result = Cli.run("check", "-r", "all", ours.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals(List.of("ERROR refcount table entry 0 has reserved bits set",
        "Leaked cluster 2 refcount=1 reference=0", "Rebuilding refcount structure",
        "Repairing cluster 1 refcount=1 reference=0"), messages(result.err()));
    QemuTools.checkClean(ours);
    assertEquals(0, QemuTools.exec("qemu-img", "compare", pristine.toString(), ours.toString())
        .exitCode());
  }

  @Test
  void jsonReportsTheFixedCountsAsQemuImg() throws IOException {
    Damage damage = f -> {
      putLong(f, L1, 0x40000);
      putLong(f, L2, 0x50000);
      putLong(f, L2 + 16 * 8, 0);
    };
    Path ours = image("ours.qcow2", damage);
    Path theirs = QemuTools.copy(ours, dir.resolve("theirs.qcow2"));
    QemuTools.Output qemu = QemuTools.exec("qemu-img", "check", "-r", "all", "--output=json",
        theirs.toString());
    Cli.Result result = Cli.run("check", "-r", "all", "--output=json", ours.toString());
    assertEquals(qemu.exitCode(), result.exitCode(), result.toString());
    assertEquals(qemu.stdout().replace("theirs", "ours"),
        result.out().replaceAll(",\\n    \"messages\": \\[[^]]*]", ""), result.toString());
  }

  @Test
  void aFileThatIsNotQcow2HasNoCheckAsWithQemuImg() throws IOException {
    Path raw = Files.write(dir.resolve("disk.raw"), new byte[65536]);
    QemuTools.Output qemu = QemuTools.exec("qemu-img", "check", "-r", "all", raw.toString());
    Cli.Result result = Cli.run("check", "-r", "all", raw.toString());
    assertEquals(63, qemu.exitCode());
    assertEquals(qemu.exitCode(), result.exitCode(), result.toString());
    assertEquals("qcow2: This image format does not support checks\n", result.err());
  }

  @Test
  void anUnknownRepairModeIsRefused() throws IOException {
    Path image = image("a.qcow2", f -> { });
    Cli.Result result = Cli.run("check", "-r", "bogus", image.toString());
    assertEquals(1, result.exitCode(), result.toString());
    assertEquals("qcow2: Unknown option value for -r (expecting 'leaks' or 'all'): bogus\n",
        result.err());
  }

  private Path image(String name, Damage damage) throws IOException {
    Path image = QemuTools.create(dir.resolve(name), "", "64M");
    QemuTools.io(image, "write -P 0x11 0 128k", "write -P 0x22 1M 64k");
    try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
      damage.apply(file);
    }
    return image;
  }

  /** The lines on stderr without the program's name in front of its own error messages. */
  private static List<String> messages(String stderr) {
    return stderr.lines().map(line -> line.replaceFirst("^(qemu-img|qcow2): ", "")).toList();
  }

  /** {@code qemu-img info} without the file name and the on-disk size. */
  private static String info(Path image) throws IOException {
    return QemuTools.exec("qemu-img", "info", "-f", "qcow2", image.toString()).stdout().lines()
        .filter(line -> !line.startsWith("image:") && !line.startsWith("disk size:"))
        .reduce("", (a, b) -> a + b + "\n");
  }

  private static void putLong(RandomAccessFile file, long offset, long value) throws IOException {
    file.seek(offset);
    file.writeLong(value);
  }

  private static void putShort(RandomAccessFile file, long offset, int value) throws IOException {
    file.seek(offset);
    file.writeShort(value);
  }
}
