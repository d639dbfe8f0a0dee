package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.format.QemuTools;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qcow2 io} on an image QEMU left dirty (lazy refcounts, qemu-io killed) repairs it first. */
class DirtyImageCliTest {
  @TempDir Path dir;

  @Test
  void theCommandLineRepairsADirtyImage() throws IOException {
    QemuTools.assumeAvailable();
    Path image = QemuTools.create(dir.resolve("lazy.qcow2"), "lazy_refcounts=on,cluster_size=4096", "4M");
    QemuTools.Output killed = QemuTools.exec("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k",
        "-c", "write -P 0x5b 1M 8k", "-c", "sigraise 9", image.toString());
    assertEquals(137, killed.exitCode(), killed.stdout() + killed.stderr());
    assertEquals(2, QemuTools.check(image).exitCode(), "stale refcounts: errors before the repair");

    Cli.Result result = Cli.run("io", image.toString(), "-c", "read -P 0x5b 1M 8k");
    assertEquals(0, result.exitCode(), result.toString());
    QemuTools.checkClean(image);
  }
}
