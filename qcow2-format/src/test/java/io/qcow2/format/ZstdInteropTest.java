package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Images with {@code compression_type=zstd}, made by qemu-img, read byte-exact by the engine. */
class ZstdInteropTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  /** A source with compressible, incompressible, zero and unallocated clusters. */
  private Path source(int clusterSize) throws IOException {
    Path source = QemuTools.create(dir.resolve("src.qcow2"), "cluster_size=" + clusterSize, "4M");
    QemuTools.io(source, "write -P 0x61 0 100k", "write -P 0 200k 8k", "write -z 300k 64k");
    byte[] noise = new byte[Math.min(3 * clusterSize, 1 << 20) + 777];
    new Random(7).nextBytes(noise);
    Path noiseFile = dir.resolve("noise.bin");
    java.nio.file.Files.write(noiseFile, noise);
    QemuTools.run("qemu-io", "-f", "qcow2", "-c", "write -s " + noiseFile + " 1M " + noise.length,
        source.toString());
    QemuTools.io(source, "write -P 0x62 " + (3 << 20) + " 5000");
    return source;
  }

  @ParameterizedTest
  @ValueSource(ints = {512, 4096, 65536, 2 << 20})
  void zstdCompressedClustersReadByteExact(int clusterSize) throws IOException {
    Path source = source(clusterSize);
    Path image = dir.resolve("zstd.qcow2");
    QemuTools.run("qemu-img", "convert", "-c", "-O", "qcow2", "-o",
        "compression_type=zstd,cluster_size=" + clusterSize, source.toString(), image.toString());
    assertTrue(QemuTools.run("qemu-img", "map", "--output=json", image.toString()).contains("\"data\": true"));
    byte[] expected = QemuTools.readRaw(image);
    try (Qcow2Image opened = Qcow2Image.open(image, TestOptions.open(), false)) {
      assertTrue(opened.map().stream().anyMatch(e -> e.kind() == Extent.Kind.COMPRESSED));
      byte[] actual = new byte[(int) opened.virtualSize()];
      opened.read(0, actual, 0, actual.length);
      assertArrayEquals(expected, actual);
    }
  }

  @Test
  void zstdImageWithoutCompressedClustersIsWritable() throws IOException {
    Path image = QemuTools.create(dir.resolve("z.qcow2"), "compression_type=zstd", "2M");
    try (Qcow2Image opened = Qcow2Image.open(image, TestOptions.open(), true)) {
      byte[] data = new byte[70_000];
      new Random(3).nextBytes(data);
      opened.write(12_345, data, 0, data.length);
    }
    QemuTools.checkClean(image);
    assertTrue(QemuTools.run("qemu-img", "info", image.toString()).contains("compression type: zstd"));
  }

  @Test
  void aDamagedZstdClusterIsACorruptImage() throws IOException {
    Path source = QemuTools.create(dir.resolve("s.qcow2"), "", "1M");
    QemuTools.io(source, "write -P 0x33 0 64k");
    Path image = dir.resolve("z.qcow2");
    QemuTools.run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd",
        source.toString(), image.toString());
    long host;
    try (Qcow2Image opened = Qcow2Image.open(image, TestOptions.open(), false)) {
      host = opened.map().get(0).hostOffset();
    }
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
      f.seek(host);
      f.writeInt(0x12345678); // not zstd's magic number
    }
    try (Qcow2Image opened = Qcow2Image.open(image, TestOptions.open(), false)) {
      CorruptImageException e = assertThrows(CorruptImageException.class,
          () -> opened.read(0, new byte[512], 0, 512));
      assertTrue(e.getMessage().contains("zstd"), e.getMessage());
    }
  }

  @Test
  void codecRoundTripsBothTypes() throws Exception {
    Random random = new Random(11);
    for (int type : new int[] {CompressedClusters.ZLIB, CompressedClusters.ZSTD}) {
      for (int clusterBits = 9; clusterBits <= 21; clusterBits += 3) {
        // 1000: compresses well in every 4 KiB piece; 5000: beyond the window, must still read back.
        for (int period : new int[] {1000, 5000}) {
          byte[] cluster = new byte[1 << clusterBits];
          byte[] pattern = new byte[period];
          random.nextBytes(pattern);
          for (int i = 0; i < cluster.length; i++) {
            cluster[i] = pattern[i % pattern.length];
          }
          byte[] out = new byte[cluster.length];
          int n = CompressedClusters.compress(type, cluster, 0, cluster.length, out, cluster.length);
          String what = "type " + type + " cluster bits " + clusterBits + " period " + period;
          if (period == 1000 && clusterBits >= 12) {
            assertTrue(n > 0 && n < cluster.length / 2, what + ": " + n);
          }
          if (n > 0) {
            byte[] back = new byte[cluster.length];
            CompressedClusters.decompress(type, out, n, back);
            assertArrayEquals(cluster, back, what);
          }
        }
      }
      assertEquals(-1, CompressedClusters.compress(type, noise(random), 0, 4096, new byte[4096], 4096));
    }
  }

  private static byte[] noise(Random random) {
    byte[] b = new byte[4096];
    random.nextBytes(b);
    return b;
  }
}
