package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A cluster is written in place only where its L1 or L2 entry says COPIED, as QEMU decides, and its
 * refcount agrees; a missing flag is never taken back from a refcount, which a hostile image can
 * forge. QEMU's verdict on an identical copy is the reference. Runs once per strategy.
 */
class CopiedFlagTrustTest {
  private static final int CLUSTER = 4096;

  @TempDir Path dir;


  /**
   * A snapshot shares every cluster (no COPIED anywhere), and the refcount table's first entry is
   * cleared, so every refcount reads 0. Trusting refcounts, the engine once wrote the guest data in
   * place, over the snapshot's cluster; QEMU copies on write, and its allocation fails on the
   * broken refcounts. Both must refuse and mark the image corrupt, leaving the snapshot intact.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void forgedRefcountsDoNotLetAWriteOverASnapshot(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("shared.qcow2");
    QemuTools.create(img, "cluster_size=" + CLUSTER, "4M");
    QemuTools.ioMerged(img, "write -P 0x11 0 1M");
    QemuTools.snapshot(img, "s1");
    long reftable = ImageFiles.readLong(img, 48);
    ImageFiles.writeLong(img, reftable, 0);
    long guest = 0x6d000;
    long host = hostOffset(img, guest);
    Path qemuCopy = QemuTools.copy(img, dir.resolve("qemu.qcow2"));

    QemuTools.Output qemu = QemuTools.execMerged("qemu-io", "-c", "write -P 0x5a " + guest + " 2048",
        qemuCopy.toString());
    assertTrue(qemu.stdout().contains("write failed"), "QEMU refuses: " + qemu.stdout());
    assertTrue(QemuTools.runMerged("qemu-img", "info", qemuCopy.toString()).contains("corrupt: true"));

    byte[] snapshotCluster = read(img, host);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      byte[] data = new byte[2048];
      Arrays.fill(data, (byte) 0x5a);
      assertThrows(Qcow2Exception.class, () -> image.write(guest, data, 0, data.length));
      assertTrue(image.info().corrupt());
    }
    assertArrayEquals(snapshotCluster, read(img, host), "the snapshot's cluster is untouched");
    assertTrue(QemuTools.runMerged("qemu-img", "info", img.toString()).contains("corrupt: true"));
  }

  /**
   * An L2 entry without COPIED whose cluster has refcount 1 (a flag lost, as qemu-img check
   * reports it): QEMU copies the cluster on write and frees the old one rather than trusting the
   * refcount; so do we, and both images come out clean with the same guest data.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void entryWithoutCopiedIsCopiedOnWriteAsQemuDoes(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("flag.qcow2");
    QemuTools.create(img, "cluster_size=" + CLUSTER, "4M");
    QemuTools.ioMerged(img, "write -P 0x11 0 64k");
    long l2 = ImageFiles.readLong(img, ImageFiles.readLong(img, 40)) & TableEntry.L1_OFFSET_MASK;
    long entry = ImageFiles.readLong(img, l2 + 8);
    ImageFiles.writeLong(img, l2 + 8, entry & ~TableEntry.COPIED);
    Path qemuCopy = QemuTools.copy(img, dir.resolve("qemu.qcow2"));

    QemuTools.ioMerged(qemuCopy, "write -P 0x22 4096 512");
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      byte[] data = new byte[512];
      Arrays.fill(data, (byte) 0x22);
      image.write(CLUSTER, data, 0, data.length);
    }
    for (Path p : new Path[] {qemuCopy, img}) {
      long moved = ImageFiles.readLong(p, l2 + 8);
      assertNotEquals(entry & TableEntry.L2_OFFSET_MASK, moved & TableEntry.L2_OFFSET_MASK,
          p + ": copied on write");
      assertEquals(TableEntry.COPIED, moved & TableEntry.COPIED, p + ": the new cluster is owned");
      QemuTools.checkClean(p);
    }
    assertArrayEquals(QemuTools.readRaw(qemuCopy), QemuTools.readRaw(img));
  }

  /** The host offset of a guest offset's cluster, through the active L1 and L2 tables. */
  private static long hostOffset(Path img, long guest) throws Exception {
    long l1 = ImageFiles.readLong(img, 40);
    int l2Entries = CLUSTER / 8;
    long l2 = ImageFiles.readLong(img, l1 + 8 * (guest / CLUSTER / l2Entries))
        & TableEntry.L1_OFFSET_MASK;
    return ImageFiles.readLong(img, l2 + 8 * (guest / CLUSTER % l2Entries))
        & TableEntry.L2_OFFSET_MASK;
  }

  private static byte[] read(Path img, long offset) throws Exception {
    byte[] all = Files.readAllBytes(img);
    return Arrays.copyOfRange(all, (int) offset, (int) offset + CLUSTER);
  }
}
