package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bitmaps, lazy refcounts, {@code map} against {@code qemu-img map}, preallocation speed. */
class FeaturesInteropTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  @Test
  void bitmapDirectoryIsChecked() throws Exception {
    Path img = dir.resolve("bm.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", img.toString(), "4M");
    QemuTools.ioMerged(img, "write -P 1 0 64k");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", img.toString(), "bm0");
    for (String strategy : TestOptions.strategies()) {
      try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), false)) {
        HeaderExtension ext = image.info().extensions().stream()
            .filter(e -> e.type() == HeaderExtension.BITMAPS).findFirst().orElseThrow();
        long directory = ByteBuffer.wrap(ext.data()).getLong(16);
        assertEquals(MetadataType.BITMAP_DIRECTORY.mask(),
            image.overlapChecker().orElseThrow().check(directory, 1, 0), strategy);
      }
    }
    // Opened read/write since the bitmaps are maintained (PersistentBitmapsInteropTest).
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      image.write(0, new byte[512], 0, 512);
    }
    QemuTools.checkClean(img);
  }

  @Test
  void lazyRefcountsImagesStayClean() throws Exception {
    Path img = dir.resolve("lazy.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 4 << 20, Map.of("lazy_refcounts", "on"), TestOptions.open())) {
      assertTrue(image.info().lazyRefcounts());
      image.write(12345, new byte[200000], 0, 200000);
    }
    QemuTools.checkClean(img);
    assertTrue(QemuTools.runMerged("qemu-img", "info", img.toString()).contains("lazy refcounts: true"));
  }

  @Test
  void mapAgreesWithQemuImgMap() throws Exception {
    Path img = dir.resolve("map.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", img.toString(), "4M");
    QemuTools.ioMerged(img, "write -P 1 0 64k", "write -P 2 1M 128k", "write -z 2M 64k", "write -P 3 3M 4k",
        "write -P 4 8k 4k");
    String json = QemuTools.runMerged("qemu-img", "map", "--output=json", img.toString());
    List<String> theirs = new ArrayList<>();
    Matcher m = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+), \"depth\": \\d+, \"present\": (\\w+), "
        + "\"zero\": (\\w+), \"data\": (\\w+)(?:, \"offset\": (\\d+))?").matcher(json);
    while (m.find()) {
      String kind = m.group(5).equals("true") ? "DATA" : m.group(3).equals("true") ? "ZERO" : "UNALLOCATED";
      theirs.add(m.group(1) + "+" + m.group(2) + " " + kind + " " + (m.group(6) == null ? -1 : m.group(6)));
    }
    List<String> ours = new ArrayList<>();
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      for (Extent e : image.map()) {
        ours.add(e.guestOffset() + "+" + e.length() + " " + e.kind() + " " + e.hostOffset());
      }
    }
    assertEquals(theirs, ours);
  }

  /**
   * The series' first benchmark workload: {@code preallocation=metadata} of 2 GiB with 512-byte
   * clusters (4 Mi data clusters, 64 Ki L2 tables). Slow and writes ~300 MiB of metadata, so it
   * runs only with {@code -Dqcow2.slow=true}.
   */
  @Test
  @org.junit.jupiter.api.condition.EnabledIfSystemProperty(named = "qcow2.slow", matches = "true")
  void metadataPreallocationOf2GiBWith512ByteClusters() throws Exception {
    Path img = dir.resolve("bench.qcow2");
    long start = System.nanoTime();
    Qcow2Image.create(img, 2L << 30, Map.of("cluster_size", "512", "preallocation", "metadata"),
        TestOptions.open()).close();
    long millis = (System.nanoTime() - start) / 1_000_000;
    System.out.println("preallocation=metadata, 2 GiB, 512 B clusters: " + millis + " ms");
    String check = QemuTools.runMerged("qemu-img", "check", img.toString());
    assertTrue(check.contains("No errors") && check.contains("100.00% allocated"), check);
  }

  @Test
  void metadataPreallocationOf64MiBWith512ByteClustersIsFast() throws Exception {
    Path img = dir.resolve("pre.qcow2");
    long start = System.nanoTime();
    Qcow2Image.create(img, 64L << 20, Map.of("cluster_size", "512", "preallocation", "metadata"),
        TestOptions.open()).close();
    long millis = (System.nanoTime() - start) / 1_000_000;
    System.out.println("preallocation=metadata, 64 MiB, 512 B clusters: " + millis + " ms");
    assertTrue(millis < 30_000, millis + " ms");
    String check = QemuTools.runMerged("qemu-img", "check", img.toString());
    assertTrue(check.contains("No errors") && check.contains("100.00% allocated"), check);
  }
}
