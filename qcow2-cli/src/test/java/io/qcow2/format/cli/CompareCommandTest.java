package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qcow2 compare} against {@code qemu-img compare}: the same stdout, the same exit status and
 * the same error after the program's name, for the same two images and options.
 */
class CompareCommandTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  /** Runs both and asserts they agree; returns our result. */
  private Cli.Result agree(String... args) throws IOException {
    List<String> qemu = new ArrayList<>(List.of("qemu-img", "compare"));
    qemu.addAll(List.of(args));
    QemuTools.Output expected = QemuTools.exec(qemu.toArray(String[]::new));
    List<String> ours = new ArrayList<>(List.of("compare"));
    ours.addAll(List.of(args));
    Cli.Result actual = Cli.run(ours.toArray(String[]::new));
    String context = String.join(" ", qemu) + "\nqemu-img: exit " + expected.exitCode() + "\n"
        + expected.stdout() + expected.stderr() + "\nqcow2: " + actual;
    assertEquals(expected.exitCode(), actual.exitCode(), context);
    assertEquals(expected.stdout(), actual.out(), context);
    if (expected.exitCode() != CompareCommand.OPEN_ERROR) {
      assertEquals(expected.stderr().replace("qemu-img: ", "qcow2: "), actual.err(), context);
    }
    return actual;
  }

  private Path qcow2(String name, String options, String size, String... io) throws IOException {
    Path image = QemuTools.create(dir.resolve(name), options, size);
    if (io.length > 0) {
      QemuTools.io(image, io);
    }
    return image;
  }

  private Path raw(Path image) throws IOException {
    return QemuTools.convertToRaw(image, dir.resolve(image.getFileName() + ".raw"));
  }

  @Test
  void identicalImagesInEveryPairingOfFormats() throws IOException {
    Path a = qcow2("a.qcow2", "cluster_size=4096", "4M",
        "write -P 0x11 0 64k", "write -z 1M 128k", "write -P 0 2M 8k", "write -P 0x22 3M 5000");
    Path b = dir.resolve("b.qcow2");
    QemuTools.run("qemu-img", "convert", "-O", "qcow2", a.toString(), b.toString());
    Path r = raw(a);
    for (String[] pair : new String[][] {{a.toString(), b.toString()}, {a.toString(), r.toString()},
        {r.toString(), a.toString()}, {r.toString(), r.toString()}}) {
      assertEquals(0, agree(pair).exitCode());
      agree("-s", pair[0], pair[1]);
      agree("-q", pair[0], pair[1]);
    }
    agree("-f", "qcow2", "-F", "raw", a.toString(), r.toString());
    agree("-s", "-f", "raw", "-F", "raw", a.toString(), r.toString());
  }

  @Test
  void aMismatchIsReportedAtItsFirstSector() throws IOException {
    long[] offsets = {0, 511, 512, 4095, 65536 + 700, (1 << 20) + 3, (4 << 20) - 1};
    Path base = qcow2("base.qcow2", "", "4M", "write -P 0x5a 0 1M", "write -z 2M 64k");
    for (long at : offsets) {
      Path changed = dir.resolve("changed-" + at + ".qcow2");
      Files.copy(base, changed);
      QemuTools.io(changed, "write -P 0x7f " + at + " 1");
      Cli.Result result = agree(base.toString(), changed.toString());
      assertEquals(1, result.exitCode(), result.toString());
      agree(changed.toString(), raw(base).toString());
      agree("-q", base.toString(), changed.toString());
      Files.delete(dir.resolve("base.qcow2.raw"));
    }
  }

  @Test
  void sizesThatDiffer() throws IOException {
    Path small = qcow2("small.qcow2", "", "1M", "write -P 1 0 4k");
    Path big = qcow2("big.qcow2", "", "3M", "write -P 1 0 4k");
    agree(small.toString(), big.toString());
    agree(big.toString(), small.toString());
    agree("-s", small.toString(), big.toString());
    QemuTools.io(big, "write -z 1M 64k");
    agree(small.toString(), big.toString());
    QemuTools.io(big, "write -P 9 2M 1k");
    Cli.Result result = agree(small.toString(), big.toString());
    assertEquals(1, result.exitCode());
    agree(big.toString(), small.toString());
    agree("-q", big.toString(), small.toString());
    agree(raw(big).toString(), small.toString());
  }

  @Test
  void backingCompressedAndZeroClusters() throws IOException {
    Path base = qcow2("base.qcow2", "cluster_size=65536", "2M", "write -P 3 0 1M");
    Path top = dir.resolve("top.qcow2");
    QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2",
        top.toString(), "3M");
    QemuTools.io(top, "write -z 64k 64k", "write -P 4 512k 4k");
    Path flat = dir.resolve("flat.qcow2");
    QemuTools.run("qemu-img", "convert", "-c", "-O", "qcow2", top.toString(), flat.toString());
    agree(top.toString(), flat.toString());
    agree(flat.toString(), raw(top).toString());
    agree(base.toString(), top.toString());
    agree(top.toString(), base.toString());
    agree("-s", top.toString(), top.toString());
  }

  @Test
  void errorsOpeningAndUsage() throws IOException {
    Path a = qcow2("a.qcow2", "", "1M");
    Path r = raw(a);
    agree(a.toString(), dir.resolve("missing").toString());
    agree(dir.resolve("missing").toString(), a.toString());
    agree("-F", "qcow2", a.toString(), r.toString());
    Cli.Result one = Cli.run("compare", a.toString());
    assertEquals(1, one.exitCode(), one.toString());
    Cli.Result unknown = Cli.run("compare", "-f", "vdi", a.toString(), a.toString());
    assertEquals(2, unknown.exitCode(), unknown.toString());
    assertTrue(unknown.err().contains("vdi"), unknown.toString());
  }

  /** Random pairs of images that differ in a few random places; the seed is printed on failure. */
  @Test
  void randomPairs() throws IOException {
    long seed = Long.getLong("qcow2.random.seed", 20261130L);
    Random random = new Random(seed);
    for (int round = 0; round < 12; round++) {
      int clusterBits = 9 + random.nextInt(8);
      long size = (1 + random.nextInt(4)) << 20;
      List<String> common = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        common.add(randomWrite(random, size));
      }
      Path a = qcow2("a" + round + ".qcow2", "cluster_size=" + (1 << clusterBits), String.valueOf(size),
          common.toArray(String[]::new));
      long size2 = random.nextInt(4) == 0 ? size + (random.nextInt(3) << 20) : size;
      Path b = dir.resolve("b" + round + ".qcow2");
      QemuTools.run("qemu-img", "convert", "-O", "qcow2", a.toString(), b.toString());
      if (size2 != size) {
        QemuTools.run("qemu-img", "resize", "-q", b.toString(), String.valueOf(size2));
      }
      int differences = random.nextInt(3);
      for (int i = 0; i < differences; i++) {
        QemuTools.io(b, randomWrite(random, size2));
      }
      String context = "seed " + seed + " round " + round;
      try {
        agree(a.toString(), b.toString());
        agree(b.toString(), raw(a).toString());
        agree("-s", a.toString(), b.toString());
      } catch (AssertionError e) {
        throw new AssertionError(context + ": " + e.getMessage(), e);
      }
    }
  }

  private static String randomWrite(Random random, long size) {
    long offset = (long) (random.nextDouble() * (size - 1));
    long length = Math.min(size - offset, 1 + random.nextInt(70_000));
    switch (random.nextInt(3)) {
      case 0:
        return "write -z " + (offset & ~511L) + " " + Math.max(512, length & ~511L);
      case 1:
        return "write -P 0 " + offset + " " + length;
      default:
        return "write -P " + (1 + random.nextInt(255)) + " " + offset + " " + length;
    }
  }
}
