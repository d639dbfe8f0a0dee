package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Images made and written by qemu-img/qemu-io read exactly as {@code qemu-img convert} sees them. */
class ReadInteropTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  static byte[] readAll(Qcow2Image image) throws Exception {
    byte[] data = new byte[(int) image.virtualSize()];
    image.read(0, data, 0, data.length);
    return data;
  }

  @ParameterizedTest(name = "cluster_size={0} refcount_bits={1} compat={2}")
  @CsvSource({
      "512, 16, 0.10", "512, 1, 1.1", "4096, 64, 1.1", "65536, 16, 1.1", "65536, 16, 0.10",
      "2097152, 8, 1.1", "1024, 2, 1.1", "8192, 32, 1.1"})
  void readsQemuWrittenImages(int clusterSize, int refcountBits, String compat) throws Exception {
    Path img = dir.resolve("a.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o",
        "cluster_size=" + clusterSize + ",refcount_bits=" + refcountBits + ",compat=" + compat,
        img.toString(), "5M");
    QemuTools.ioMerged(img, "write -P 0xab 0 64k", "write -P 0x12 1000 3000", "write -P 0x34 4190000 300000",
        "write -z 8192 20000", "write -P 0x55 2M 1k", "discard 2M 1k");
    byte[] expected = QemuTools.readRaw(img);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      assertEquals(5 << 20, image.virtualSize());
      assertEquals(clusterSize, image.clusterSize());
      assertEquals(refcountBits, image.info().refcountBits());
      assertEquals(compat.equals("0.10") ? 2 : 3, image.info().version());
      assertArrayEquals(expected, readAll(image));
      // Odd-sized reads across cluster boundaries.
      byte[] part = new byte[7777];
      image.read(4189999, part, 0, part.length);
      byte[] want = java.util.Arrays.copyOfRange(expected, 4189999, 4189999 + part.length);
      assertArrayEquals(want, part);
      assertThrows(IllegalArgumentException.class, () -> image.read(5 << 20, new byte[1], 0, 1));
      assertTrue(image.overlapChecker().isPresent());
    }
  }

  @Test
  void readsBackingChainWithRelativePath() throws Exception {
    Path sub = Files.createDirectories(dir.resolve("sub"));
    Path base = sub.resolve("base.qcow2");
    Path mid = sub.resolve("mid.qcow2");
    Path top = sub.resolve("top.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", base.toString(), "3M");
    QemuTools.ioMerged(base, "write -P 0x11 0 1M", "write -P 0x22 2M 512k");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
        "-o", "cluster_size=512", mid.toString(), "4M");
    QemuTools.ioMerged(mid, "write -P 0x33 512k 1000", "write -z 2100k 10k");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top.toString());
    QemuTools.ioMerged(top, "write -P 0x44 3000 5000");
    byte[] expected = QemuTools.readRaw(top);
    try (Qcow2Image image = Qcow2Image.open(top, TestOptions.open(), false)) {
      assertEquals("mid.qcow2", image.info().backingFile());
      assertEquals("qcow2", image.info().backingFormat());
      assertArrayEquals(expected, readAll(image));
      List<Extent> map = image.map();
      assertTrue(map.stream().anyMatch(Extent::fromBacking), map::toString);
    }
  }

  @Test
  void readsRawBacking() throws Exception {
    Path base = dir.resolve("base.raw");
    byte[] pattern = new byte[1 << 20];
    new java.util.Random(1).nextBytes(pattern);
    Files.write(base, pattern);
    Path top = dir.resolve("top.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top.toString(), "2M");
    QemuTools.ioMerged(top, "write -P 0x44 3000 5000");
    try (Qcow2Image image = Qcow2Image.open(top, TestOptions.open(), false)) {
      assertArrayEquals(QemuTools.readRaw(top), readAll(image));
    }
  }

  @ParameterizedTest(name = "cluster_size={0}")
  @CsvSource({"512", "4096", "65536", "2097152"})
  void readsCompressedImages(int clusterSize) throws Exception {
    Path src = dir.resolve("src.qcow2");
    Path img = dir.resolve("c.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=" + clusterSize, src.toString(), "6M");
    QemuTools.ioMerged(src, "write -P 0xab 0 100k", "write -P 0x01 1M 3M", "write -P 0x77 5000000 7");
    QemuTools.runMerged("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=" + clusterSize,
        src.toString(), img.toString());
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      assertArrayEquals(QemuTools.readRaw(img), readAll(image));
      assertTrue(image.map().stream().anyMatch(e -> e.kind() == Extent.Kind.COMPRESSED));
    }
  }

  @Test
  void mapMergesContiguousExtents() throws Exception {
    Path img = dir.resolve("m.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", img.toString(), "4M");
    QemuTools.ioMerged(img, "write -P 1 0 256k", "write -z 1M 128k");
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      List<Extent> map = image.map();
      assertEquals(Extent.Kind.DATA, map.get(0).kind());
      assertEquals(256 << 10, map.get(0).length());
      assertTrue(map.stream().anyMatch(e -> e.kind() == Extent.Kind.ZERO && e.length() == 128 << 10), map::toString);
      assertEquals(4 << 20, map.stream().mapToLong(Extent::length).sum());
    }
  }
}
