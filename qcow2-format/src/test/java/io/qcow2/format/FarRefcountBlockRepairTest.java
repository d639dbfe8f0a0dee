package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A refcount table entry pointed 1 TiB past the end of a 4 MiB image (one byte changed). QEMU's
 * repair grows the file to hold the block and counts every cluster up to it; ours rebuilds the
 * refcount structure without growing the file: the image ends clean either way, ours without a
 * 1 TiB sparse file or a per-cluster array for it (the check counts a byte or more per cluster,
 * which at 2^28 clusters ran out of heap).
 */
class FarRefcountBlockRepairTest {
  @TempDir Path dir;

  @Test
  void repairRebuildsInsteadOfGrowingTheFileToAFarBlock() throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("far.qcow2");
    QemuTools.create(img, "cluster_size=4096", "4M");
    QemuTools.ioMerged(img, "write -P 0x11 0 1M");
    byte[] guest = QemuTools.readRaw(img);
    long refcountTable = ImageFiles.readLong(img, 48);
    ImageFiles.writeLong(img, refcountTable + 392 * 8, 0xff_0000_0000L);
    Path qemuCopy = QemuTools.copy(img, dir.resolve("qemu.qcow2"));
    long length = Files.size(img);

    RepairResult repaired = ImageCheck.repair(img, RepairMode.ALL, 100);

    assertEquals(0, repaired.exitCode(), repaired.toString());
    assertTrue(repaired.repairPass().messages().contains("Rebuilding refcount structure"),
        repaired.repairPass().messages().toString());
    assertTrue(Files.size(img) < length + (1 << 20), "the file did not grow to the block");
    QemuTools.checkClean(img);
    assertArrayEquals(guest, QemuTools.readRaw(img));

    QemuTools.Output qemu = QemuTools.exec("qemu-img", "check", "-r", "all", qemuCopy.toString());
    assertEquals(0, qemu.exitCode(), qemu.stdout() + qemu.stderr());
    assertTrue(Files.size(qemuCopy) > 0xff_0000_0000L, "QEMU grew its copy to the block");
  }
}
