package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * An active L2 table stays protected while any L1 entry points at it, whatever the strategy:
 * the checker's entries are not counted, so the engine must not remove a table another entry
 * still uses, and writing a new L2 table (which ignores active L2 tables, as in QEMU) must not
 * land on a live one. QEMU's behaviour on an identical copy is the reference; where QEMU loses
 * data, we refuse instead. Runs once per strategy.
 */
class LiveL2TableTest {
  private static final int CLUSTER = 512;
  private static final int L2_SPAN = CLUSTER / 8 * CLUSTER;
  /** Guest bytes written under L1 entry 0: the first half of its table's span. */
  private static final int DATA = L2_SPAN / 2;

  @TempDir Path dir;


  /**
   * L1 entry 5 points, without COPIED, at L1 entry 0's table. A write through entry 5 to a cluster
   * the table leaves unallocated copies the table on write and retires entry 5's reference; entry 0
   * still uses the table. QEMU refuses the write (the data cluster it allocates is the table it
   * freed); we must refuse too, with every strategy, and keep entry 0's data.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void tableTwoEntriesShareStaysProtected(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = image("shared.qcow2");
    long l1 = ImageFiles.readLong(img, 40);
    long l2 = ImageFiles.readLong(img, l1) & TableEntry.L1_OFFSET_MASK;
    ImageFiles.writeLong(img, l1 + 5 * 8, l2);
    Path qemuCopy = QemuTools.copy(img, dir.resolve("qemu.qcow2"));
    QemuTools.Output qemu = QemuTools.execMerged("qemu-io", "-c",
        "write -P 0x5a " + (5L * L2_SPAN + DATA) + " 512", qemuCopy.toString());
    assertTrue(qemu.stdout().contains("write failed"), "QEMU refuses: " + qemu.stdout());

    assertRefusedAndDataKept(img, strategy, 5L * L2_SPAN + DATA);
  }

  /**
   * The refcount of L1 entry 0's table is cleared, so allocating a new L2 table hands that cluster
   * out. QEMU writes the new table over the live one (its write ignores active L2 tables) and
   * loses guest data, which its own check then reports; we refuse the allocation.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void newTableNeverLandsOnALiveOne(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = image("freed.qcow2");
    long l1 = ImageFiles.readLong(img, 40);
    long l2 = ImageFiles.readLong(img, l1) & TableEntry.L1_OFFSET_MASK;
    long refblock = ImageFiles.readLong(img, ImageFiles.readLong(img, 48));
    ImageFiles.writeShort(img, refblock + 2 * (l2 / CLUSTER), 0);
    Path qemuCopy = QemuTools.copy(img, dir.resolve("qemu.qcow2"));
    QemuTools.execMerged("qemu-io", "-c", "write -P 0x5a " + 16 * L2_SPAN + " 512",
        qemuCopy.toString());
    assertTrue(QemuTools.check(qemuCopy).get("corruptions") > 0,
        "QEMU overwrote the live table: its check finds the damage");

    assertRefusedAndDataKept(img, strategy, 16L * L2_SPAN);
  }

  /**
   * The refcount block's own refcount is cleared, so a new L2 table is handed the block's cluster.
   * QEMU refuses when it writes the table: "overlaps with refcount block". We refuse as the table
   * is allocated, naming the same structure (the table already in the checker once named itself).
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void newTableOverARefcountBlockIsNamedAsQemuNamesIt(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = image("refblock.qcow2");
    long refblock = ImageFiles.readLong(img, ImageFiles.readLong(img, 48));
    ImageFiles.writeShort(img, refblock + 2 * (refblock / CLUSTER), 0);
    long guest = 16L * L2_SPAN;
    Path qemuCopy = QemuTools.copy(img, dir.resolve("qemu.qcow2"));
    String qemu = QemuTools.execMerged("qemu-io", "-c", "write -P 0x5a " + guest + " 512",
        qemuCopy.toString()).stdout();
    assertTrue(qemu.contains("Preventing invalid write on metadata (overlaps with refcount block)"),
        qemu);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      MetadataOverlapException e = assertThrows(MetadataOverlapException.class,
          () -> image.write(guest, new byte[CLUSTER], 0, CLUSTER));
      assertEquals(String.format("Preventing invalid write on metadata (overlaps with refcount "
          + "block) at offset 0x%x; image marked as corrupt", refblock), e.getMessage());
    }
  }

  /** A 1 MiB image with 512-byte clusters whose first 16 KiB (half of L1 entry 0's table) hold 0x11. */
  private Path image(String name) throws Exception {
    Path img = dir.resolve(name);
    QemuTools.create(img, "cluster_size=" + CLUSTER, "1M");
    QemuTools.ioMerged(img, "write -P 0x11 0 " + DATA);
    return img;
  }

  private static void assertRefusedAndDataKept(Path img, String strategy, long guest)
      throws Exception {
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      byte[] data = new byte[CLUSTER];
      Arrays.fill(data, (byte) 0x5a);
      assertThrows(Qcow2Exception.class, () -> image.write(guest, data, 0, data.length));
      assertTrue(image.info().corrupt());
    }
    byte[] expected = new byte[DATA];
    Arrays.fill(expected, (byte) 0x11);
    assertArrayEquals(expected, Arrays.copyOf(QemuTools.readRaw(img), DATA),
        "L1 entry 0's data reads back through QEMU");
  }
}
