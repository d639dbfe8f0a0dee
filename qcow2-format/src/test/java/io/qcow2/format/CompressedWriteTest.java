package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Compressed writes ({@link Qcow2Image#writeCompressed}) judged by qemu: {@code qemu-img check}
 * clean, the guest contents as {@code qemu-img convert} reads them, and {@code qemu-img map}
 * showing compressed clusters (data without a host offset).
 */
class CompressedWriteTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  static Stream<Arguments> configurations() {
    List<Arguments> list = new ArrayList<>();
    for (String type : new String[] {"zlib", "zstd"}) {
      for (int clusterSize : new int[] {512, 4096, 65536, 2 << 20}) {
        list.add(Arguments.of(type, clusterSize, "16"));
      }
      list.add(Arguments.of(type, 4096, "1")); // no sharing of a host cluster: refcount max is 1
    }
    return list.stream();
  }

  /** Text-like bytes: compressible, but not a single repeated byte. */
  static byte[] text(Random random, int length) {
    String[] words = {"qcow2 ", "cluster ", "overlap ", "refcount ", "table ", "zstd ", "zlib "};
    StringBuilder b = new StringBuilder();
    while (b.length() < length) {
      b.append(words[random.nextInt(words.length)]);
    }
    return Arrays.copyOf(b.toString().getBytes(StandardCharsets.US_ASCII), length);
  }

  private static long compressedExtents(Qcow2Image image) throws IOException {
    return image.map().stream().filter(e -> e.kind() == Extent.Kind.COMPRESSED).count();
  }

  @ParameterizedTest(name = "{0}, cluster {1}, refcount bits {2}")
  @MethodSource("configurations")
  void compressedClustersReadBackInQemu(String type, int clusterSize, String refcountBits)
      throws IOException {
    Random random = new Random(clusterSize * 31L + type.hashCode());
    long size = Math.max(8L * clusterSize, 3 << 20) + Math.max(512, clusterSize / 2); // partial last cluster
    byte[] expected = new byte[(int) size];
    Path image = dir.resolve("c.qcow2");
    Map<String, String> create = Map.of("cluster_size", String.valueOf(clusterSize),
        "compression_type", type, "refcount_bits", refcountBits);
    try (Qcow2Image img = Qcow2Image.create(image, size, create, TestOptions.open())) {
      byte[] a = text(random, 3 * clusterSize);
      img.writeCompressed(0, a, 0, a.length);
      System.arraycopy(a, 0, expected, 0, a.length);
      byte[] noise = new byte[clusterSize]; // does not compress: written as a plain cluster
      random.nextBytes(noise);
      img.writeCompressed(4L * clusterSize, noise, 0, noise.length);
      System.arraycopy(noise, 0, expected, 4 * clusterSize, clusterSize);
      long lastCluster = ((size - 1) / clusterSize) * clusterSize;
      byte[] tail = text(random, (int) (size - lastCluster));
      img.writeCompressed(lastCluster, tail, 0, tail.length);
      System.arraycopy(tail, 0, expected, (int) lastCluster, tail.length);
      // a plain write beside them, and one that replaces a compressed cluster (frees it)
      byte[] plain = text(random, clusterSize + 100);
      img.write(5L * clusterSize + 7, plain, 0, plain.length);
      System.arraycopy(plain, 0, expected, 5 * clusterSize + 7, plain.length);
      byte[] over = text(random, 300);
      img.write(clusterSize + 11, over, 0, over.length);
      System.arraycopy(over, 0, expected, clusterSize + 11, over.length);
      assertEquals(3, compressedExtents(img)); // clusters 0 and 2, and the last one
      byte[] ours = new byte[(int) size];
      img.read(0, ours, 0, ours.length);
      assertArrayEquals(expected, ours);
    }
    QemuTools.checkClean(image);
    assertArrayEquals(expected, QemuTools.readRaw(image));
    String map = QemuTools.run("qemu-img", "map", "--output=json", image.toString());
    long withoutOffset = map.lines().filter(l -> l.contains("\"data\": true") && !l.contains("\"offset\"")).count();
    assertTrue(withoutOffset >= 2, map);
    assertEquals(type, QemuTools.run("qemu-img", "info", "--output=json", image.toString()).lines()
        .filter(l -> l.contains("compression-type")).findFirst()
        .map(l -> l.replaceAll(".*\"compression-type\": \"(\\w+)\".*", "$1")).orElse("zlib"));
  }

  @Test
  void qemuReadsWhatWeCompressAndWeReadWhatQemuCompresses() throws IOException {
    Path image = QemuTools.create(dir.resolve("q.qcow2"), "cluster_size=4096", "1M");
    QemuTools.io(image, "write -c -P 0x21 0 16k");
    try (Qcow2Image img = Qcow2Image.open(image, TestOptions.open(), true)) {
      byte[] b = new byte[8192];
      Arrays.fill(b, (byte) 0x22);
      img.writeCompressed(16384, b, 0, b.length);
      byte[] read = new byte[16384];
      img.read(0, read, 0, read.length);
      byte[] want = new byte[16384];
      Arrays.fill(want, (byte) 0x21);
      assertArrayEquals(want, read);
    }
    QemuTools.io(image, "read -P 0x21 0 16k", "read -P 0x22 16k 8k", "write -c -P 0x23 64k 4k");
    QemuTools.checkClean(image);
    try (Qcow2Image img = Qcow2Image.open(image, TestOptions.open(), false)) {
      byte[] read = new byte[4096];
      img.read(65536, read, 0, read.length);
      for (byte x : read) {
        assertEquals(0x23, x);
      }
    }
  }

  @Test
  void anAllocatedClusterIsNotOverwrittenAndMisalignedRangesAreRefused() throws IOException {
    Path image = dir.resolve("r.qcow2");
    try (Qcow2Image img = Qcow2Image.create(image, 1 << 20, Map.of("cluster_size", "4096"), TestOptions.open())) {
      byte[] b = text(new Random(1), 8192);
      img.write(4096, b, 0, 4096);
      Qcow2Exception e = assertThrows(Qcow2Exception.class, () -> img.writeCompressed(0, b, 0, 8192));
      assertTrue(e.getMessage().contains("allocated"), e.getMessage());
      img.writeCompressed(8192, b, 0, 4096);
      assertThrows(Qcow2Exception.class, () -> img.writeCompressed(8192, b, 0, 4096)); // compressed
      assertThrows(IllegalArgumentException.class, () -> img.writeCompressed(512, b, 0, 4096));
      assertThrows(IllegalArgumentException.class, () -> img.writeCompressed(12288, b, 0, 5000));
      img.writeZeroes(16384, 4096); // a zero cluster without a host offset takes a compressed one
      img.writeCompressed(16384, b, 0, 4096);
      byte[] read = new byte[4096];
      img.read(0, read, 0, 4096);
      assertArrayEquals(new byte[4096], read, "the refused write left cluster 0 unallocated");
    }
    QemuTools.checkClean(image);
  }

  @Test
  void compressedWritesAfterASnapshotCopyTheSharedL2Table() throws IOException {
    Path image = dir.resolve("s.qcow2");
    byte[] b = text(new Random(2), 65536);
    try (Qcow2Image img = Qcow2Image.create(image, 4 << 20, Map.of(), TestOptions.open())) {
      img.writeCompressed(0, b, 0, 65536);
      img.createSnapshot("before");
      img.writeCompressed(65536, b, 0, 65536);
    }
    QemuTools.checkClean(image);
    QemuTools.run("qemu-img", "snapshot", "-a", "before", image.toString());
    QemuTools.checkClean(image);
    byte[] raw = QemuTools.readRaw(image);
    assertArrayEquals(b, Arrays.copyOf(raw, 65536));
    assertArrayEquals(new byte[65536], Arrays.copyOfRange(raw, 65536, 131072));
  }

  /** The compressed bytes' host write goes through the overlap checker like every other. */
  @Test
  void aCompressedWriteOntoTheHeaderIsRefused() throws IOException {
    Path image = dir.resolve("o.qcow2");
    try (Qcow2Image img = Qcow2Image.create(image, 1 << 20, Map.of("cluster_size", "4096"), TestOptions.open())) {
      img.write(0, new byte[] {1}, 0, 1); // the L2 table exists before the refcount goes
    }
    long refblock = ImageFiles.readLong(image, ImageFiles.readLong(image, 48));
    ImageFiles.writeShort(image, refblock, 0); // cluster 0 (the header) looks free
    Map<String, String> options = new HashMap<>(TestOptions.open());
    try (Qcow2Image img = Qcow2Image.open(image, options, true)) {
      byte[] b = text(new Random(3), 4096);
      MetadataOverlapException e = assertThrows(MetadataOverlapException.class,
          () -> img.writeCompressed(8192, b, 0, 4096));
      assertTrue(e.getMessage().contains(MetadataType.MAIN_HEADER.optionName())
          || e.getMessage().contains("header"), e.getMessage());
      assertTrue(img.info().corrupt());
    }
    assertFalse(QemuTools.exec("qemu-img", "info", image.toString()).stdout().contains("corrupt: false"));
  }
}
