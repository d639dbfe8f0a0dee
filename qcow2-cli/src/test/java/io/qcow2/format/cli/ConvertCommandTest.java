package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.Extent;
import io.qcow2.format.QemuTools;
import io.qcow2.format.Qcow2Image;
import io.qcow2.format.TestImages;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code qcow2 convert} judged by qemu-img: the target passes {@code qemu-img check}, {@code
 * qemu-img compare} finds it equal to the source, and nothing that reads as zeros was written as
 * data.
 */
class ConvertCommandTest {
  @TempDir static Path dir;

  @BeforeAll
  static void qemu() {
    QemuTools.assumeAvailable();
  }

  static Stream<TestImages.Named> images() {
    return TestImages.all().stream();
  }

  private static void convert(String... args) {
    List<String> command = new ArrayList<>(List.of("convert", "-q"));
    command.addAll(List.of(args));
    Cli.Result result = Cli.run(command.toArray(String[]::new));
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("", result.out() + result.err(), result.toString());
  }

  private static void assertEqualContents(Path source, Path target) throws IOException {
    QemuTools.Output compare = QemuTools.exec("qemu-img", "compare", source.toString(), target.toString());
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }

  /** Every data cluster of the qcow2 target holds a non-zero byte; no zero cluster was written. */
  private static void assertNoZeroData(Path target) throws IOException {
    try (Qcow2Image image = Qcow2Image.open(target, Map.of(), false)) {
      byte[] cluster = new byte[image.clusterSize()];
      for (Extent e : image.map()) {
        assertTrue(e.kind() == Extent.Kind.DATA || e.kind() == Extent.Kind.UNALLOCATED
            || e.kind() == Extent.Kind.COMPRESSED, e.toString());
        if (e.kind() == Extent.Kind.UNALLOCATED) {
          continue;
        }
        for (long at = e.guestOffset(); at < e.end(); at += cluster.length) {
          int n = (int) Math.min(cluster.length, image.virtualSize() - at);
          image.read(at, cluster, 0, n);
          boolean data = false;
          for (int i = 0; i < n && !data; i++) {
            data = cluster[i] != 0;
          }
          assertTrue(data, "zero cluster written as data at guest offset " + at);
        }
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void qcow2ToQcow2(TestImages.Named recipe) throws IOException {
    Path source = recipe.build(Files.createDirectories(dir.resolve("q-" + recipe.name())));
    Path target = source.resolveSibling("ours.qcow2");
    convert("-O", "qcow2", source.toString(), target.toString());
    QemuTools.checkClean(target);
    assertEqualContents(source, target);
    assertNoZeroData(target);
    Path small = source.resolveSibling("ours-4k.qcow2");
    convert("-O", "qcow2", "-o", "cluster_size=4096,refcount_bits=8", "-f", "qcow2",
        source.toString(), small.toString());
    QemuTools.checkClean(small);
    assertEqualContents(source, small);
    assertNoZeroData(small);
    assertEquals("4096", QemuTools.run("qemu-img", "info", small.toString()).lines()
        .filter(l -> l.startsWith("cluster_size:")).findFirst().orElseThrow().substring(14));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void qcow2ToRawEqualsQemuImgConvert(TestImages.Named recipe) throws IOException {
    Path source = recipe.build(Files.createDirectories(dir.resolve("r-" + recipe.name())));
    Path ours = source.resolveSibling("ours.raw");
    Path theirs = QemuTools.convertToRaw(source, source.resolveSibling("theirs.raw"));
    convert("-O", "raw", source.toString(), ours.toString());
    assertArrayEquals(Files.readAllBytes(theirs), Files.readAllBytes(ours));
    if (HostAllocation.supported()) {
      assertEquals(HostAllocation.allocatedBytes(theirs), HostAllocation.allocatedBytes(ours),
          "as sparse as qemu-img's");
    }
  }

  static Stream<Object[]> compressedCases() {
    List<Object[]> cases = new ArrayList<>();
    for (TestImages.Named recipe : TestImages.all()) {
      cases.add(new Object[] {recipe, "zlib"});
      cases.add(new Object[] {recipe, "zstd"});
    }
    return cases.stream();
  }

  /** {@code convert -c}: compressed clusters qemu-img reads, as compact as qemu-img's within 20 %. */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("compressedCases")
  void compressedConvert(TestImages.Named recipe, String type) throws IOException {
    Path source = recipe.build(Files.createDirectories(dir.resolve("c-" + type + "-" + recipe.name())));
    Path target = source.resolveSibling("ours-c.qcow2");
    convert("-c", "-O", "qcow2", "-o", "compression_type=" + type, source.toString(), target.toString());
    QemuTools.checkClean(target);
    assertEqualContents(source, target);
    assertNoZeroData(target);
    try (Qcow2Image image = Qcow2Image.open(target, Map.of(), false)) {
      assertTrue(image.map().stream().anyMatch(e -> e.kind() == Extent.Kind.COMPRESSED), recipe.name());
    }
    Path theirs = source.resolveSibling("theirs-c.qcow2");
    QemuTools.run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=" + type,
        source.toString(), theirs.toString());
    long ourEnd = imageEnd(target);
    long theirEnd = imageEnd(theirs);
    assertTrue(ourEnd <= theirEnd * 1.2 + 3 * 65536, "image end " + ourEnd + " vs qemu-img's " + theirEnd);
  }

  private static long imageEnd(Path image) throws IOException {
    return QemuTools.exec("qemu-img", "check", image.toString()).stdout().lines()
        .filter(l -> l.startsWith("Image end offset: ")).mapToLong(l -> Long.parseLong(l.substring(18)))
        .findFirst().orElseThrow();
  }

  @Test
  void ioWriteCompressedReadsBackInQemuIo() throws IOException {
    Path image = QemuTools.create(dir.resolve("io-c.qcow2"), "cluster_size=4096", "1M");
    Cli.Result result = Cli.run("io", "-c", "write -c -P 0x5c 8k 16k", "-c", "write -c 64k 4k", image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals("wrote 16384/16384 bytes at offset 8192\nwrote 4096/4096 bytes at offset 65536\n",
        result.out());
    QemuTools.io(image, "read -P 0x5c 8k 16k", "read -P 0xcd 64k 4k");
    QemuTools.checkClean(image);
    String map = QemuTools.run("qemu-img", "map", "--output=json", image.toString());
    assertTrue(map.contains("{ \"start\": 8192, \"length\": 16384, \"depth\": 0, \"present\": true, "
        + "\"zero\": false, \"data\": true}"), map);
    Cli.Result again = Cli.run("io", "-c", "write -c 8k 4k", image.toString());
    assertEquals(1, again.exitCode(), again.toString());
    assertTrue(again.err().contains("allocated"), again.toString());
  }

  @Test
  void rawSourcesProbedOrNamed() throws IOException {
    Random random = new Random(42);
    Path raw = dir.resolve("src.raw");
    try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
      f.setLength(3_000_000); // not a multiple of 512: the guest size is rounded up, as QEMU's
      byte[] data = new byte[70_000];
      random.nextBytes(data);
      f.seek(123_457);
      f.write(data);
      f.seek(2_900_000);
      f.write(new byte[4096]); // zeros written as data: must not become data
      f.seek(2_999_000);
      f.write(data, 0, 1000);
    }
    Path probed = dir.resolve("probed.qcow2");
    convert("-O", "qcow2", "-o", "cluster_size=65536", raw.toString(), probed.toString());
    Path named = dir.resolve("named.qcow2");
    convert("-f", "raw", "-O", "qcow2", "-o", "cluster_size=512,compat=0.10", raw.toString(), named.toString());
    for (Path target : new Path[] {probed, named}) {
      QemuTools.checkClean(target);
      assertEqualContents(raw, target);
      assertNoZeroData(target);
    }
    Path theirs = dir.resolve("theirs.qcow2");
    QemuTools.run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw.toString(), theirs.toString());
    assertEquals(QemuTools.run("qemu-img", "info", "--output=json", theirs.toString())
            .lines().filter(l -> l.contains("virtual-size")).findFirst().orElseThrow(),
        QemuTools.run("qemu-img", "info", "--output=json", probed.toString())
            .lines().filter(l -> l.contains("virtual-size")).findFirst().orElseThrow());
    Path back = dir.resolve("back.raw");
    convert("-O", "raw", named.toString(), back.toString());
    assertEqualContents(raw, back);
  }

  @Test
  void optionErrorsWriteNothing() {
    Path source = dir.resolve("none.raw");
    for (String[] args : new String[][] {
        {"convert", "-O", "vmdk", "a", "b"},
        {"convert", "-O", "raw", "-o", "cluster_size=4096", "a", "b"},
        {"convert", "-O", "qcow2", "-o", "backing_file=x", "a", "b"},
        {"convert", "-O", "qcow2", "--overlap-check=bogus", "a", "b"}}) {
      Cli.Result result = Cli.run(args);
      assertEquals(1, result.exitCode(), result.toString());
      assertFalse(Files.exists(dir.resolve("b")), result.toString());
    }
    Cli.Result missing = Cli.run("convert", "-O", "qcow2", source.toString(), dir.resolve("c").toString());
    assertEquals(1, missing.exitCode(), missing.toString());
    assertEquals("qcow2: Could not open '" + source + "': No such file or directory\n", missing.err());
  }
}
