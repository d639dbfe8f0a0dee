package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Images we create and write pass {@code qemu-img check} and read back as we wrote them. */
class WriteInteropTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  static Map<String, String> createOptions(int clusterSize, int refcountBits, String compat, String prealloc) {
    Map<String, String> o = new HashMap<>();
    o.put("cluster_size", Integer.toString(clusterSize));
    o.put("refcount_bits", Integer.toString(refcountBits));
    o.put("compat", compat);
    o.put("preallocation", prealloc);
    return o;
  }

  @ParameterizedTest(name = "cluster_size={0} refcount_bits={1} compat={2} preallocation={3}")
  @CsvSource({
      "512, 16, 1.1, off", "512, 1, 1.1, off", "512, 64, 1.1, off", "512, 16, 0.10, off",
      "512, 16, 1.1, metadata", "512, 1, 1.1, metadata", "512, 64, 1.1, metadata",
      "4096, 16, 1.1, off", "4096, 1, 1.1, metadata", "4096, 64, 1.1, off", "4096, 16, 0.10, metadata",
      "65536, 16, 1.1, off", "65536, 1, 1.1, off", "65536, 64, 1.1, metadata", "65536, 16, 0.10, off",
      "2097152, 16, 1.1, off", "2097152, 1, 1.1, metadata", "2097152, 64, 1.1, off",
      "2097152, 16, 0.10, metadata", "512, 16, 1.1, full", "4096, 16, 1.1, falloc"})
  void createdAndWrittenImagesAreClean(int clusterSize, int refcountBits, String compat, String prealloc)
      throws Exception {
    Path img = dir.resolve("w.qcow2");
    long size = 9L << 20;
    byte[] model = new byte[(int) size];
    Random random = new Random(clusterSize * 31L + refcountBits);
    try (Qcow2Image image = Qcow2Image.create(img, size,
        createOptions(clusterSize, refcountBits, compat, prealloc), TestOptions.open())) {
      assertEquals(size, image.virtualSize());
      for (int i = 0; i < 60; i++) {
        int off = random.nextInt((int) size - 1);
        int len = 1 + random.nextInt(Math.min((int) size - off, i % 10 == 0 ? 3 << 20 : 70000));
        byte[] data = new byte[len];
        random.nextBytes(data);
        image.write(off, data, 0, len);
        System.arraycopy(data, 0, model, off, len);
      }
      image.writeZeroes(1 << 20, 1 << 20);
      Arrays.fill(model, 1 << 20, 2 << 20, (byte) 0);
      image.discard(4 << 20, 2 << 20);
      Arrays.fill(model, 4 << 20, 6 << 20, (byte) 0);
      byte[] back = new byte[(int) size];
      image.read(0, back, 0, back.length);
      assertArrayEquals(model, back);
    }
    QemuTools.checkClean(img);
    assertArrayEquals(model, QemuTools.readRaw(img));
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      byte[] back = new byte[(int) size];
      image.read(0, back, 0, back.length);
      assertArrayEquals(model, back);
    }
  }

  @ParameterizedTest(name = "preallocation=metadata cluster_size={0}")
  @CsvSource({"512", "65536"})
  void metadataPreallocationMatchesQemu(int clusterSize) throws Exception {
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    Qcow2Image.create(ours, 3 << 20, createOptions(clusterSize, 16, "1.1", "metadata"), TestOptions.open()).close();
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o",
        "preallocation=metadata,cluster_size=" + clusterSize, theirs.toString(), "3M");
    QemuTools.checkClean(ours);
    String check = QemuTools.runMerged("qemu-img", "check", ours.toString());
    assertTrue(check.contains("100.00% allocated"), check);
    try (Qcow2Image image = Qcow2Image.open(ours, TestOptions.open(), false)) {
      assertTrue(image.map().stream().allMatch(e -> e.kind() == Extent.Kind.DATA), () -> {
        try {
          return image.map().toString();
        } catch (Exception e) {
          return e.toString();
        }
      });
    }
    assertArrayEquals(new byte[3 << 20], QemuTools.readRaw(ours));
  }

  @Test
  void qemuIoAndWeInterleave() throws Exception {
    Path img = dir.resolve("mix.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", img.toString(), "8M");
    byte[] model = new byte[8 << 20];
    QemuTools.ioMerged(img, "write -P 0xab 0 64k");
    Arrays.fill(model, 0, 64 << 10, (byte) 0xab);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      byte[] data = new byte[100000];
      Arrays.fill(data, (byte) 0x11);
      image.write(30000, data, 0, data.length);
      System.arraycopy(data, 0, model, 30000, data.length);
      image.write(5 << 20, data, 0, 5000);
      System.arraycopy(data, 0, model, 5 << 20, 5000);
    }
    QemuTools.checkClean(img);
    QemuTools.ioMerged(img, "write -P 0xcd 32k 1M", "write -z 6M 100k", "discard 7M 1M");
    Arrays.fill(model, 32 << 10, (32 << 10) + (1 << 20), (byte) 0xcd);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      byte[] data = new byte[3000];
      Arrays.fill(data, (byte) 0x77);
      image.write((7 << 20) + 100, data, 0, data.length);
      System.arraycopy(data, 0, model, (7 << 20) + 100, data.length);
      image.writeZeroes(40000, 10000);
      Arrays.fill(model, 40000, 50000, (byte) 0);
      image.resize(12 << 20);
    }
    QemuTools.checkClean(img);
    byte[] grown = Arrays.copyOf(model, 12 << 20);
    assertArrayEquals(grown, QemuTools.readRaw(img));
    QemuTools.ioMerged(img, "write -P 0x99 11M 4k");
    Arrays.fill(grown, 11 << 20, (11 << 20) + 4096, (byte) 0x99);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      byte[] back = new byte[12 << 20];
      image.read(0, back, 0, back.length);
      assertArrayEquals(grown, back);
    }
  }

  @Test
  void resizeMovesL1AndGrowsRefcountTable() throws Exception {
    Path img = dir.resolve("grow.qcow2");
    byte[] small = new byte[512];
    Arrays.fill(small, (byte) 5);
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20,
        createOptions(512, 64, "1.1", "off"), TestOptions.open())) {
      image.write(0, small, 0, 512);
      long oldL1 = image.info().l1Offset();
      image.resize(64L << 20);
      assertTrue(image.info().l1Offset() != oldL1);
      byte[] data = new byte[3 << 20];
      Arrays.fill(data, (byte) 9);
      image.write(60L << 20, data, 0, data.length);
    }
    QemuTools.checkClean(img);
    byte[] raw = QemuTools.readRaw(img);
    assertEquals(5, raw[0]);
    assertEquals(9, raw[(60 << 20) + 12345]);
  }

  @ParameterizedTest(name = "refcount_bits={0}")
  @CsvSource({"1", "8", "64"})
  void manyResizesAndScatteredWritesStayClean(int refcountBits) throws Exception {
    Path img = dir.resolve("stress.qcow2");
    Random random = new Random(refcountBits);
    Map<Long, Byte> written = new HashMap<>();
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20,
        createOptions(512, refcountBits, "1.1", "off"), TestOptions.open())) {
      for (int i = 1; i <= 60; i++) {
        image.resize(image.virtualSize() + (long) random.nextInt(8 << 20) + 512);
        for (int j = 0; j < 20; j++) {
          long off = (long) (random.nextDouble() * (image.virtualSize() - 1));
          byte value = (byte) (1 + random.nextInt(255));
          image.write(off, new byte[] {value}, 0, 1);
          written.put(off, value);
        }
        MetadataInvariants.verify(image);
      }
    }
    QemuTools.checkClean(img);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      byte[] one = new byte[1];
      for (Map.Entry<Long, Byte> w : written.entrySet()) {
        image.read(w.getKey(), one, 0, 1);
        assertEquals(w.getValue(), one[0], "offset " + w.getKey());
      }
    }
  }

  @Test
  void writesOverBackingFile() throws Exception {
    Path base = dir.resolve("base.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", base.toString(), "2M");
    QemuTools.ioMerged(base, "write -P 0x5a 0 2M");
    Path top = dir.resolve("top.qcow2");
    Map<String, String> opts = new HashMap<>();
    opts.put("backing_file", "base.qcow2");
    opts.put("backing_fmt", "qcow2");
    opts.put("cluster_size", "4096");
    byte[] model = new byte[2 << 20];
    Arrays.fill(model, (byte) 0x5a);
    try (Qcow2Image image = Qcow2Image.create(top, -1, opts, TestOptions.open())) {
      assertEquals(2 << 20, image.virtualSize());
      image.write(100, new byte[] {1, 2, 3}, 0, 3);
      model[100] = 1;
      model[101] = 2;
      model[102] = 3;
      image.writeZeroes(8192, 4096);
      Arrays.fill(model, 8192, 12288, (byte) 0);
      image.discard(65536, 65536);
      Arrays.fill(model, 65536, 131072, (byte) 0);
    }
    QemuTools.checkClean(top);
    assertArrayEquals(model, QemuTools.readRaw(top));
  }

  @Test
  void rejectsBadOptions() {
    Path img = dir.resolve("bad.qcow2");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.create(img, 1 << 20, Map.of("cluster_size", "1000"), TestOptions.open()));
    assertTrue(e.getMessage().contains("power of two"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.create(img, 1 << 20, Map.of("compat", "0.10", "refcount_bits", "8"), TestOptions.open()));
    assertTrue(e.getMessage().contains("1.1"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.create(img, 1 << 20, Map.of("preallocation", "maybe"), TestOptions.open()));
    assertTrue(e.getMessage().contains("off, metadata, falloc, full"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.create(img, 1 << 20, Map.of("colour", "red"), TestOptions.open()));
    assertTrue(e.getMessage().contains("cluster_size"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.create(img, 1 << 20, Map.of(), Map.of("cache", "x")));
    assertTrue(e.getMessage().contains("overlap-check"), e.getMessage());
  }
}
