package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An image left dirty by QEMU with lazy refcounts (qemu-io killed after its writes, as iotest 039
 * does) is repaired when opened read/write, as QEMU's open repairs it: every completed write reads
 * back and {@code qemu-img check} is clean, as after qemu-io's own repair of a copy.
 */
class DirtyImageRepairTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  private Path dirtyImage() throws IOException {
    Path image = QemuTools.create(dir.resolve("lazy.qcow2"), "lazy_refcounts=on,cluster_size=4096", "4M");
    QemuTools.Output killed = QemuTools.exec("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k",
        "-c", "write -P 0x5b 1M 8k", "-c", "sigraise 9", image.toString());
    assertEquals(137, killed.exitCode(), killed.stdout() + killed.stderr());
    assertEquals(2, QemuTools.check(image).exitCode(), "stale refcounts: errors before the repair");
    return image;
  }

  @Test
  void openingForWritingRepairsAsQemuDoes() throws IOException {
    Path ours = dirtyImage();
    Path theirs = Files.copy(ours, dir.resolve("theirs.qcow2"));
    try (Qcow2Image image = Qcow2Image.open(ours, TestOptions.open(), false)) {
      assertTrue(image.info().dirty(), "read-only leaves it dirty");
    }
    try (Qcow2Image image = Qcow2Image.open(ours, TestOptions.open(), true)) {
      assertFalse(image.info().dirty());
      image.write(2 << 20, new byte[] {7}, 0, 1);
    }
    QemuTools.checkClean(ours);
    QemuTools.io(ours, "read -P 0x5a 0 64k", "read -P 0x5b 1M 8k", "read -P 7 2M 1");
    // qemu-io's open repairs its copy the same way (and reports the repair on stderr)
    QemuTools.Output qemu = QemuTools.exec("qemu-io", "-f", "qcow2", "-c", "write -P 7 2M 1", theirs.toString());
    assertEquals(0, qemu.exitCode(), qemu.stdout() + qemu.stderr());
    assertTrue(qemu.stderr().contains("Repairing"), qemu.stderr());
    QemuTools.checkClean(theirs);
    assertArrayEquals(QemuTools.readRaw(theirs), QemuTools.readRaw(ours));
  }
}
