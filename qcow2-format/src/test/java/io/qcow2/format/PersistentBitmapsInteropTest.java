package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Live persistent dirty bitmaps against QEMU 7.2 (issue 16): bitmaps added with {@code qemu-img
 * bitmap --add}, written through the engine, then read back by QEMU over {@code qemu-nbd -B} with
 * {@code qemu-img map --image-opts x-dirty-bitmap=...} (a dirty granule maps as {@code "data":
 * false}) and compared with a model of the granules each request touched.
 */
class PersistentBitmapsInteropTest {
  private static final int MB = 1 << 20;
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  /** A bitmap as the test sets it up, and the granules it must hold. */
  private static final class ModelBitmap {
    final String name;
    final long granularity;
    final boolean enabled;
    final BitSet dirty = new BitSet();

    ModelBitmap(String name, long granularity, boolean enabled) {
      this.name = name;
      this.granularity = granularity;
      this.enabled = enabled;
    }

    void touch(long offset, long length) {
      if (enabled && length > 0) {
        dirty.set((int) (offset / granularity), (int) ((offset + length - 1) / granularity) + 1);
      }
    }
  }

  private static void touchAll(List<ModelBitmap> model, long offset, long length) {
    for (ModelBitmap b : model) {
      b.touch(offset, length);
    }
  }

  private static List<ModelBitmap> addBitmaps(Path img) throws IOException {
    List<ModelBitmap> model = List.of(
        new ModelBitmap("g64k", 64 << 10, true),
        new ModelBitmap("fine", 512, true),
        new ModelBitmap("coarse", 1 << 20, true),
        new ModelBitmap("off", 64 << 10, false));
    for (ModelBitmap b : model) {
      // The default granularity depends on the cluster size: always given.
      List<String> command = new ArrayList<>(List.of("qemu-img", "bitmap", "--add", "-g",
          Long.toString(b.granularity)));
      if (!b.enabled) {
        command.add("--disable");
      }
      command.addAll(List.of(img.toString(), b.name));
      QemuTools.runMerged(command.toArray(String[]::new));
    }
    return model;
  }

  @ParameterizedTest(name = "cluster_size={0}")
  @ValueSource(ints = {512, 65536})
  void qemuSeesExactlyTheGranulesWritten(int clusterSize) throws Exception {
    Path img = QemuTools.create(dir.resolve("bm.qcow2"), "cluster_size=" + clusterSize, "12M");
    List<ModelBitmap> model = addBitmaps(img);
    // QEMU's own writes first: the engine must load and keep them.
    QemuTools.io(img, "write -P 1 100k 3k", "write -z 5M 100k");
    touchAll(model, 100 << 10, 3 << 10);
    touchAll(model, 5 * MB, 100 << 10);
    long seed = 16;
    Random random = new Random(seed);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      // Set before the first guest write reaches the disk (here: before any).
      assertTrue(infoFlags(img).values().stream().allMatch(f -> f.contains("in-use")), infoFlags(img).toString());
      workload(image, model, random);
    }
    assertClean(img, model);
    // A second session re-stores bitmaps that already have data clusters.
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      workload(image, model, random);
      image.resize(16L * MB);
      byte[] tail = new byte[3000];
      image.write(16L * MB - tail.length, tail, 0, tail.length);
      touchAll(model, 16L * MB - tail.length, tail.length);
    }
    assertClean(img, model);
  }

  private static void workload(Qcow2Image image, List<ModelBitmap> model, Random random) throws IOException {
    byte[] data = new byte[300 << 10];
    for (int i = 0; i < 25; i++) {
      int length = 1 + random.nextInt(data.length);
      long offset = (long) (random.nextDouble() * (image.virtualSize() - length));
      random.nextBytes(data);
      switch (random.nextInt(4)) {
        case 0:
          image.writeZeroes(offset, length);
          break;
        case 1:
          image.discard(offset, length); // the whole range is dirty, not just whole clusters
          break;
        default:
          image.write(offset, data, 0, length);
      }
      touchAll(model, offset, length);
    }
    // A compressed write of two whole clusters that are unallocated (a fresh L2 range).
    long at = image.virtualSize() - 2L * image.clusterSize();
    if (image.extentAt(at, 2L * image.clusterSize()).kind() == Extent.Kind.UNALLOCATED
        && image.extentAt(at, 2L * image.clusterSize()).length() == 2L * image.clusterSize()) {
      byte[] compressible = new byte[2 * image.clusterSize()];
      image.writeCompressed(at, compressible, 0, compressible.length);
      touchAll(model, at, compressible.length);
    }
    // A zero-length write dirties nothing (QEMU: bdrv_set_dirty is skipped for 0 bytes).
    image.write(7 * MB, data, 0, 0);
  }

  /** qemu-img check clean, no bitmap in use, and every bitmap's granules as QEMU reads them. */
  private void assertClean(Path img, List<ModelBitmap> model) throws IOException {
    QemuTools.checkClean(img);
    assertEquals(0, ImageCheck.run(img).exitCode(), "our check counts the bitmap clusters too");
    Map<String, String> flags = infoFlags(img);
    for (ModelBitmap b : model) {
      assertFalse(flags.get(b.name).contains("in-use"), b.name + ": " + flags);
      assertEquals(b.enabled, flags.get(b.name).contains("auto"), b.name + ": " + flags);
      long size = virtualSize(img);
      assertEquals(b.dirty, dirtyGranules(img, b.name, b.granularity, size), b.name);
    }
    // The engine reads back what it stored, as QEMU does.
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      PersistentBitmaps bitmaps = image.bitmaps();
      for (int i = 0; i < model.size(); i++) {
        ModelBitmap b = model.get(i);
        long granules = (image.virtualSize() + b.granularity - 1) / b.granularity;
        for (long g = 0; g < granules; g++) {
          if (b.dirty.get((int) g) != bitmaps.isDirty(i, g)) {
            fail(b.name + ": granule " + g + " read back " + bitmaps.isDirty(i, g));
          }
        }
      }
    }
  }

  @Test
  void aBitmapFoundInUseStaysInconsistentAsInQemu() throws Exception {
    Path img = QemuTools.create(dir.resolve("inuse.qcow2"), "", "4M");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", img.toString(), "old");
    // qemu-io killed while the image is open: the bitmap stays marked in use.
    QemuTools.exec("qemu-io", "-f", "qcow2", "-c", "write 0 64k", "-c", "sigraise 9", img.toString());
    assertTrue(infoFlags(img).get("old").contains("in-use"));
    QemuTools.runMerged("qemu-img", "bitmap", "--add", img.toString(), "new");
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      image.write(MB, new byte[4096], 0, 4096);
    }
    QemuTools.checkClean(img);
    assertEquals(0, ImageCheck.run(img).exitCode());
    Map<String, String> flags = infoFlags(img);
    assertTrue(flags.get("old").contains("in-use"), flags.toString());
    assertFalse(flags.get("new").contains("in-use"), flags.toString());
    BitSet expected = new BitSet();
    expected.set(MB / (64 << 10));
    assertEquals(expected, dirtyGranules(img, "new", 64 << 10, 4 * MB));
    // QEMU refuses the inconsistent one, as it did before the engine wrote.
    QemuTools.runMerged("qemu-img", "bitmap", "--add", img.toString(), "merged");
    QemuTools.Output merge = QemuTools.execMerged("qemu-img", "bitmap", "--merge", "old", img.toString(), "merged");
    assertNotEquals(0, merge.exitCode());
    assertTrue(merge.stdout().contains("Bitmap 'old' is inconsistent"), merge.stdout());
    // A resize is refused while a bitmap is inconsistent, with qemu-img resize's message.
    QemuTools.Output resize = QemuTools.execMerged("qemu-img", "resize", img.toString(), "8M");
    assertNotEquals(0, resize.exitCode());
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      Qcow2Exception e = org.junit.jupiter.api.Assertions.assertThrows(Qcow2Exception.class,
          () -> image.resize(8 * MB));
      assertTrue(resize.stdout().contains(e.getMessage()), e.getMessage() + " vs " + resize.stdout());
      assertEquals(4 * MB, image.virtualSize());
    }
  }

  /** The same requests through qemu-io and through the engine dirty the same granules. */
  @Test
  void requestsDirtyWhatQemuDirties() throws Exception {
    Path ours = QemuTools.create(dir.resolve("ours.qcow2"), "", "4M");
    QemuTools.io(ours, "write 0 64k");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", "-g", "512", ours.toString(), "b");
    Path theirs = Files.copy(ours, dir.resolve("theirs.qcow2"));
    QemuTools.io(theirs, "discard 1000 3000", "write -z 100000 5", "write 70000 1",
        "write -c 1M 64k", "write 2M 0");
    try (Qcow2Image image = Qcow2Image.open(ours, TestOptions.open(), true)) {
      image.discard(1000, 3000);
      image.writeZeroes(100000, 5);
      image.write(70000, new byte[1], 0, 1);
      image.writeCompressed(MB, new byte[64 << 10], 0, 64 << 10);
      image.write(2 * MB, new byte[0], 0, 0);
    }
    BitSet expected = dirtyGranules(theirs, "b", 512, 4 * MB);
    assertEquals(expected, dirtyGranules(ours, "b", 512, 4 * MB));
    assertEquals(7 + 1 + 1 + 128, expected.cardinality(), expected.toString()); // nothing for 0 bytes
  }

  @Test
  void lazyRefcountsAndBitmapsCloseClean() throws Exception {
    Path img = QemuTools.create(dir.resolve("lazy.qcow2"), "lazy_refcounts=on", "8M");
    List<ModelBitmap> model = addBitmaps(img);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      workload(image, model, new Random(39));
      image.flush(); // QEMU's flush stores no bitmap: they stay in use until close
      assertTrue(infoFlags(img).values().stream().allMatch(f -> f.contains("in-use")));
    }
    assertClean(img, model);
  }

  @Test
  void aShrinkAndGrowDropBitsAsQemuDoes() throws Exception {
    Path ours = QemuTools.create(dir.resolve("ours.qcow2"), "", "8M");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", "-g", "65536", ours.toString(), "b");
    Path theirs = Files.copy(ours, dir.resolve("theirs.qcow2"));
    QemuTools.io(theirs, "write 6M 1M", "truncate 4M", "truncate 8M", "write 100k 4k");
    try (Qcow2Image image = Qcow2Image.open(ours, TestOptions.open(), true)) {
      image.write(6 * MB, new byte[MB], 0, MB);
      image.shrink(4 * MB);
      image.resize(8 * MB);
      image.write(100 << 10, new byte[4096], 0, 4096);
    }
    QemuTools.checkClean(ours);
    BitSet expected = new BitSet();
    expected.set(1);
    assertEquals(expected, dirtyGranules(theirs, "b", 65536, 8 * MB), "QEMU's own");
    assertEquals(expected, dirtyGranules(ours, "b", 65536, 8 * MB));
  }

  @Test
  void bitmapTablesAndDataAreProtectedMetadata() throws Exception {
    Path img = QemuTools.create(dir.resolve("protect.qcow2"), "cluster_size=4096", "8M");
    addBitmaps(img);
    QemuTools.io(img, "write 0 8M");
    for (String strategy : TestOptions.strategies()) {
      for (String mode : new String[] {"constant", "cached", "all"}) {
        Map<String, String> options = TestOptions.open(strategy);
        options.put("overlap-check", mode);
        try (Qcow2Image image = Qcow2Image.open(img, options, false)) {
          OverlapChecker checker = image.overlapChecker().orElseThrow();
          PersistentBitmaps bitmaps = image.bitmaps();
          int expectTable = mode.equals("constant") ? 0 : MetadataType.BITMAP_TABLE.mask();
          int expectData = mode.equals("constant") ? 0 : MetadataType.BITMAP_DATA.mask();
          int dataClusters = 0;
          for (int i = 0; i < bitmaps.count(); i++) {
            assertEquals(expectTable, checker.check(bitmaps.tableOffset(i), 1, 0), strategy + " " + mode);
            for (int j = 0; j < bitmaps.tableSize(i); j++) {
              long data = bitmaps.tableEntry(i, j) & ~0x1ffL;
              if (data != 0) {
                dataClusters++;
                assertEquals(expectData, checker.check(data, 4096, 0), strategy + " " + mode);
              }
            }
          }
          assertTrue(dataClusters > 0, "the enabled bitmaps hold dirty data clusters");
        }
      }
      // Each type has its own switch.
      Map<String, String> options = TestOptions.open(strategy);
      options.put("overlap-check.bitmap-data", "off");
      try (Qcow2Image image = Qcow2Image.open(img, options, false)) {
        assertEquals(0, image.overlapMask() & MetadataType.BITMAP_DATA.mask());
        assertEquals(MetadataType.BITMAP_TABLE.mask(), image.overlapMask() & MetadataType.BITMAP_TABLE.mask());
      }
    }
  }

  @Test
  void aGuestWriteSteeredOntoBitmapDataIsRefused() throws Exception {
    Path img = QemuTools.create(dir.resolve("steer.qcow2"), "cluster_size=4096", "8M");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", "-g", "4096", img.toString(), "b");
    QemuTools.io(img, "write 0 4k");
    long dataCluster;
    long l2Offset;
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      dataCluster = image.bitmaps().tableEntry(0, 0) & ~0x1ffL;
      l2Offset = image.activeL1()[0] & TableEntry.L1_OFFSET_MASK;
    }
    assertNotEquals(0, dataCluster);
    // Guest cluster 0's L2 entry now points at the bitmap's data cluster (COPIED: written in place).
    try (var f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
      f.seek(l2Offset);
      f.writeLong(dataCluster | TableEntry.COPIED);
    }
    for (String strategy : TestOptions.strategies()) {
      Path copy = Files.copy(img, dir.resolve("steer-" + strategy + ".qcow2"), StandardCopyOption.REPLACE_EXISTING);
      try (Qcow2Image image = Qcow2Image.open(copy, TestOptions.open(strategy), true)) {
        MetadataOverlapException e = org.junit.jupiter.api.Assertions.assertThrows(
            MetadataOverlapException.class, () -> image.write(0, new byte[512], 0, 512));
        assertTrue(e.getMessage().contains("bitmap data"), strategy + ": " + e.getMessage());
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  private static final Pattern BITMAP_INFO = Pattern.compile(
      "\"flags\": \\[([^\\]]*)\\],\\s*\"name\": \"([^\"]+)\"");

  /** Each bitmap's flags as {@code qemu-img info --output=json} lists them, e.g. {@code "in-use","auto"}. */
  static Map<String, String> infoFlags(Path img) throws IOException {
    String json = QemuTools.run("qemu-img", "info", "-U", "--output=json", img.toString());
    Map<String, String> flags = new LinkedHashMap<>();
    Matcher m = BITMAP_INFO.matcher(json);
    while (m.find()) {
      flags.put(m.group(2), m.group(1));
    }
    return flags;
  }

  private static long virtualSize(Path img) throws IOException {
    Matcher m = Pattern.compile("\"virtual-size\": (\\d+)")
        .matcher(QemuTools.run("qemu-img", "info", "--output=json", img.toString()));
    assertTrue(m.find());
    return Long.parseLong(m.group(1));
  }

  private static final Pattern MAP_ENTRY = Pattern.compile(
      "\"start\": (\\d+), \"length\": (\\d+),[^}]*\"data\": (true|false)");

  /**
   * The granules QEMU reports dirty in bitmap {@code name}: {@code qemu-nbd -B NAME} exports it and
   * {@code qemu-img map} over NBD with {@code x-dirty-bitmap} maps a dirty range as {@code "data":
   * false}.
   */
  static BitSet dirtyGranules(Path img, String name, long granularity, long size) throws IOException {
    Path socket = img.resolveSibling("nbd-" + name + ".sock");
    Files.deleteIfExists(socket);
    // Not --fork: the server must be gone (and its image lock released) when this returns.
    Process server = new ProcessBuilder("qemu-nbd", "-r", "-k", socket.toString(), "-B", name, "-f",
        "qcow2", img.toString()).redirectErrorStream(true)
        .redirectOutput(img.resolveSibling("nbd-" + name + ".log").toFile()).start();
    String json;
    try {
      for (int i = 0; i < 500 && !Files.exists(socket); i++) {
        if (!server.isAlive()) {
          fail("qemu-nbd -B " + name + " exited with " + server.exitValue() + ": "
              + Files.readString(img.resolveSibling("nbd-" + name + ".log")));
        }
        Thread.sleep(10);
      }
      json = QemuTools.run("qemu-img", "map", "--output=json", "--image-opts",
          "driver=nbd,server.type=unix,server.path=" + socket + ",x-dirty-bitmap=qemu:dirty-bitmap:" + name);
      if (!server.waitFor(30, TimeUnit.SECONDS)) { // it exits when its one client disconnects
        fail("qemu-nbd did not exit after its client disconnected");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    } finally {
      server.destroy();
    }
    BitSet dirty = new BitSet();
    Matcher m = MAP_ENTRY.matcher(json);
    long covered = 0;
    while (m.find()) {
      long start = Long.parseLong(m.group(1));
      long length = Long.parseLong(m.group(2));
      assertEquals(covered, start, json);
      covered = start + length;
      if (m.group(3).equals("false")) {
        dirty.set((int) (start / granularity), (int) ((start + length - 1) / granularity) + 1);
      }
    }
    assertEquals(size, covered, json);
    return dirty;
  }
}
