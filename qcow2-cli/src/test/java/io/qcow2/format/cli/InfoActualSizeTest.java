package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code info}'s {@code actual-size} and "disk size" are the bytes the file system allocated, as
 * {@code qemu-img info} reports them, on sparse and on preallocated images.
 */
class InfoActualSizeTest {
  private static final Pattern ACTUAL = Pattern.compile("\"actual-size\": (\\d+)");

  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
    // The comparison means something only where st_blocks is read.
    assertTrue(HostAllocation.supported() || !"true".equals(System.getenv("CI")),
        "statx/lseek not callable on CI");
  }

  private static long actualSize(String json) {
    Matcher m = ACTUAL.matcher(json);
    assertTrue(m.find(), json);
    return Long.parseLong(m.group(1));
  }

  private void agree(Path image) throws IOException {
    long theirs = actualSize(QemuTools.run("qemu-img", "info", "--output=json", image.toString()));
    Cli.Result ours = Cli.run("info", "--output=json", image.toString());
    assertEquals(0, ours.exitCode(), ours.toString());
    assertEquals(theirs, actualSize(ours.out()), image + " (" + Files.size(image) + " bytes long)");
    String human = QemuTools.run("qemu-img", "info", image.toString()).lines()
        .filter(l -> l.startsWith("disk size:")).findFirst().orElseThrow();
    assertTrue(Cli.run("info", image.toString()).out().contains(human + "\n"), human);
  }

  @ParameterizedTest
  @ValueSource(strings = {"off", "metadata", "falloc", "full"})
  void qemuMadeImages(String preallocation) throws IOException {
    Path image = QemuTools.create(dir.resolve(preallocation + ".qcow2"),
        "preallocation=" + preallocation, "8M");
    agree(image);
    if (preallocation.equals("metadata")) {
      assertTrue(HostAllocation.allocatedBytes(image) < Files.size(image),
          "metadata preallocation leaves the data clusters' range a hole");
    }
    QemuTools.io(image, "write -P 1 1M 300k");
    agree(image);
  }

  @Test
  void sparseImageOfOurs() throws IOException {
    Path image = dir.resolve("ours.qcow2");
    assertEquals(0, Cli.run("create", "-q", image.toString(), "1G").exitCode());
    agree(image);
    assertEquals(0, Cli.run("io", "-c", "write -P 7 512M 1M", image.toString()).exitCode());
    agree(image);
  }

  @Test
  void preallocatedImageOfOurs() throws IOException {
    Path image = dir.resolve("full.qcow2");
    assertEquals(0, Cli.run("create", "-q", "-o", "preallocation=full", image.toString(), "4M")
        .exitCode());
    agree(image);
  }
}
