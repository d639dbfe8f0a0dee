package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code qcow2 resize --shrink} against {@code qemu-img resize --shrink} on copies of one image:
 * the same guest contents and size afterwards, {@code qemu-img check} clean, the file truncated
 * after its last cluster in use; without the flag, qemu-img's refusal.
 */
class ShrinkTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  static Stream<Arguments> cases() {
    List<Arguments> list = new ArrayList<>();
    for (String options : new String[] {"cluster_size=512", "cluster_size=4096,refcount_bits=8",
        "cluster_size=65536", "cluster_size=4096,compat=0.10"}) {
      for (String size : new String[] {"3M", "1536k", "1000k", "4100k", "512", "-1M"}) {
        list.add(Arguments.of(options, size));
      }
    }
    return list.stream();
  }

  private Path image(String options) throws IOException {
    Path source = QemuTools.create(dir.resolve("src.qcow2"), options, "6M");
    QemuTools.io(source, "write -P 0x11 0 10k", "write -P 0x12 1M 600k", "write -P 0x13 3M 1M",
        "write -z 4400k 64k", "write -c -P 0x14 5M 128k", "write -P 0x15 6140k 4k");
    return source;
  }

  @ParameterizedTest(name = "{0} to {1}")
  @MethodSource("cases")
  void shrinkAsQemuImg(String options, String size) throws IOException {
    Path source = image(options);
    Path ours = Files.copy(source, dir.resolve("ours.qcow2"));
    Path theirs = Files.copy(source, dir.resolve("theirs.qcow2"));
    QemuTools.Output expected = QemuTools.exec("qemu-img", "resize", "--shrink", theirs.toString(), size);
    assertEquals(0, expected.exitCode(), expected.stderr());
    Cli.Result result = Cli.run("resize", "--shrink", ours.toString(), size);
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals(expected.stdout(), result.out());
    QemuTools.checkClean(ours);
    QemuTools.Output compare = QemuTools.exec("qemu-img", "compare", "-s", ours.toString(), theirs.toString());
    assertTrue(compare.exitCode() == 0 || compare.stdout().contains("block status mismatch"),
        compare.stdout() + compare.stderr());
    assertEquals(0, QemuTools.exec("qemu-img", "compare", ours.toString(), theirs.toString()).exitCode());
    assertEquals(virtualSize(theirs), virtualSize(ours));
    long end = QemuTools.exec("qemu-img", "check", ours.toString()).stdout().lines()
        .filter(l -> l.startsWith("Image end offset: "))
        .mapToLong(l -> Long.parseLong(l.substring(18))).findFirst().orElseThrow();
    assertEquals(end, Files.size(ours), "truncated after the last cluster in use");
    assertTrue(Files.size(ours) <= Files.size(source));
    // growing again shows zeros where the dropped data was
    assertEquals(0, Cli.run("resize", "-q", ours.toString(), "6M").exitCode());
    QemuTools.io(ours, "read -P 0 6140k 4k");
    QemuTools.checkClean(ours);
  }

  @Test
  void snapshotsKeepWhatTheyReference() throws IOException {
    Path image = image("cluster_size=4096");
    QemuTools.snapshot(image, "full");
    // Every check on, every strategy compared at every check: the snapshot's tables stay protected.
    Cli.Result result = Cli.run("resize", "--shrink", "--overlap-check=all", "--overlap-strategy",
        "test-agree", image.toString(), "1M");
    assertEquals(0, result.exitCode(), result.toString());
    QemuTools.checkClean(image);
    QemuTools.io(image, "read -P 0x11 0 10k");
    QemuTools.run("qemu-img", "snapshot", "-a", "full", image.toString());
    QemuTools.checkClean(image);
    assertEquals(6L << 20, virtualSize(image));
    QemuTools.io(image, "read -P 0x13 3M 1M", "read -P 0x14 5M 128k", "read -P 0x15 6140k 4k");
  }

  @Test
  void withoutTheFlagASmallerSizeIsRefusedAsQemuImgRefusesIt() throws IOException {
    Path image = image("");
    for (String size : new String[] {"1M", "-4k", "0", "-6M"}) {
      QemuTools.Output expected = QemuTools.exec("qemu-img", "resize", image.toString(), size);
      Cli.Result result = Cli.run("resize", image.toString(), size);
      assertEquals(expected.exitCode(), result.exitCode(), result.toString());
      assertEquals(expected.stderr().replace("qemu-img: ", "qcow2: "), result.err());
    }
    assertEquals(6L << 20, virtualSize(image));
    QemuTools.Output odd = QemuTools.exec("qemu-img", "resize", "--shrink", image.toString(), "1000");
    Cli.Result ours = Cli.run("resize", "--shrink", image.toString(), "1000");
    assertEquals(odd.exitCode(), ours.exitCode());
    assertEquals(odd.stderr().replace("qemu-img: ", "qcow2: "), ours.err());
  }

  private static long virtualSize(Path image) throws IOException {
    return QemuTools.run("qemu-img", "info", "--output=json", image.toString()).lines()
        .filter(l -> l.contains("\"virtual-size\""))
        .mapToLong(l -> Long.parseLong(l.replaceAll("\\D", ""))).findFirst().orElseThrow();
  }
}
