package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Internal snapshots: create/list/apply/delete with the overlap checker compared against the
 * legacy strategy after every operation, and interop with {@code qemu-img snapshot} both ways.
 */
class SnapshotTest {
  private static final int SIZE = 4 << 20;

  @TempDir Path dir;

  private static Map<String, String> create(int clusterSize, String compat) {
    Map<String, String> options = new HashMap<>();
    options.put("cluster_size", Integer.toString(clusterSize));
    options.put("compat", compat);
    return options;
  }

  private static byte[] pattern(int seed) {
    byte[] data = new byte[SIZE];
    java.util.Random random = new java.util.Random(seed);
    // Sparse: a few written stretches, the rest left unallocated.
    for (int i = 0; i < 12; i++) {
      int off = random.nextInt(SIZE - 70000);
      int len = 1 + random.nextInt(70000);
      for (int j = off; j < off + len; j++) {
        data[j] = (byte) (seed * 31 + j);
      }
    }
    return data;
  }

  /** Writes the bytes of {@code data} that differ from {@code old}, cluster-run by run. */
  private static void writeDiff(Qcow2Image image, byte[] old, byte[] data) throws Exception {
    int step = 4096;
    for (int off = 0; off < data.length; off += step) {
      int len = Math.min(step, data.length - off);
      if (!Arrays.equals(old, off, off + len, data, off, off + len)) {
        image.write(off, data, off, len);
      }
    }
  }

  private static byte[] readAll(Qcow2Image image) throws Exception {
    byte[] buf = new byte[(int) image.virtualSize()];
    image.read(0, buf, 0, buf.length);
    return buf;
  }

  @ParameterizedTest(name = "cluster_size={0} compat={1}")
  @CsvSource({"65536, 1.1", "512, 1.1", "4096, 0.10"})
  void createApplyDeleteKeepsDataAndCheckerExact(int clusterSize, String compat) throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("s.qcow2");
    byte[] a = pattern(1);
    byte[] b = pattern(2);
    byte[] c = pattern(3);
    try (Qcow2Image image = Qcow2Image.create(img, SIZE, create(clusterSize, compat),
        TestOptions.openAll("windowed"))) {
      writeDiff(image, new byte[SIZE], a);
      OverlapAgreement.assertAgree(image, "after writes");
      SnapshotInfo s1 = image.createSnapshot("one");
      assertEquals("1", s1.id());
      OverlapAgreement.assertAgree(image, "after create one");
      writeDiff(image, a, b);
      OverlapAgreement.assertAgree(image, "after copy-on-write");
      image.createSnapshot("two");
      writeDiff(image, b, c);
      OverlapAgreement.assertAgree(image, "after create two + writes");
      assertEquals(List.of("one", "two"), image.listSnapshots().stream().map(SnapshotInfo::name).toList());

      image.applySnapshot("one");
      OverlapAgreement.assertAgree(image, "after apply one");
      assertArrayEquals(a, readAll(image));
      image.applySnapshot("2");
      OverlapAgreement.assertAgree(image, "after apply two (by id)");
      assertArrayEquals(b, readAll(image));
      writeDiff(image, b, c);
      OverlapAgreement.assertAgree(image, "after writes on two");
      image.deleteSnapshot("one");
      OverlapAgreement.assertAgree(image, "after delete one");
      assertArrayEquals(c, readAll(image));
    }
    QemuTools.checkClean(img);
    String listed = QemuTools.runMerged("qemu-img", "snapshot", "-l", img.toString());
    assertTrue(listed.contains("two") && !listed.contains("one"), listed);
    assertArrayEquals(b, snapshotToRaw(img, "two"));
    assertArrayEquals(c, QemuTools.readRaw(img));
    // qemu-img applies our snapshot.
    QemuTools.runMerged("qemu-img", "snapshot", "-a", "two", img.toString());
    QemuTools.checkClean(img);
    assertArrayEquals(b, QemuTools.readRaw(img));
    // Reopen: the checker built at open agrees too; delete the last one.
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.openAll("windowed"), true)) {
      OverlapAgreement.assertAgree(image, "after reopen");
      image.deleteSnapshot("two");
      OverlapAgreement.assertAgree(image, "after delete two");
      assertEquals(List.of(), image.listSnapshots());
      assertArrayEquals(b, readAll(image));
    }
    QemuTools.checkClean(img);
  }

  /** The guest content of an internal snapshot, as qemu-img reads it (the image is not changed). */
  static byte[] snapshotToRaw(Path img, String name) throws Exception {
    Path raw = img.resolveSibling("snap-" + name + ".raw");
    QemuTools.runMerged("qemu-img", "convert", "-f", "qcow2", "-O", "raw", "-l", "snapshot.name=" + name,
        img.toString(), raw.toString());
    byte[] data = Files.readAllBytes(raw);
    Files.delete(raw);
    return data;
  }

  @Test
  void snapshotsMadeByQemuAreListedAppliedAndDeleted() throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("q.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", img.toString(), "2M");
    QemuTools.ioMerged(img, "write -P 0x11 0 1M");
    QemuTools.runMerged("qemu-img", "snapshot", "-c", "q1", img.toString());
    QemuTools.ioMerged(img, "write -P 0x22 512k 1M", "write -z 1536k 64k");
    QemuTools.runMerged("qemu-img", "snapshot", "-c", "q2", img.toString());
    QemuTools.ioMerged(img, "write -P 0x33 0 64k", "discard 128k 64k");
    byte[] q1 = snapshotToRaw(img, "q1");
    byte[] q2 = snapshotToRaw(img, "q2");
    byte[] now = QemuTools.readRaw(img);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.openAll("windowed"), true)) {
      OverlapAgreement.assertAgree(image, "qemu image at open");
      List<SnapshotInfo> list = image.listSnapshots();
      assertEquals(List.of("q1", "q2"), list.stream().map(SnapshotInfo::name).toList());
      assertEquals(List.of("1", "2"), list.stream().map(SnapshotInfo::id).toList());
      assertEquals(2L << 20, list.get(0).diskSize());
      assertArrayEquals(now, readAll(image));
      image.applySnapshot("q1");
      OverlapAgreement.assertAgree(image, "after apply q1");
      assertArrayEquals(q1, readAll(image));
      image.deleteSnapshot("q2");
      OverlapAgreement.assertAgree(image, "after delete q2");
      image.createSnapshot("ours");
      OverlapAgreement.assertAgree(image, "after create ours");
      image.write(0, new byte[70000], 0, 70000);
      OverlapAgreement.assertAgree(image, "after write");
    }
    QemuTools.checkClean(img);
    String listed = QemuTools.runMerged("qemu-img", "snapshot", "-l", img.toString());
    assertTrue(listed.contains("q1") && listed.contains("ours") && !listed.contains("q2"), listed);
    assertArrayEquals(q1, snapshotToRaw(img, "ours"));
    assertArrayEquals(q1, snapshotToRaw(img, "q1"));
    QemuTools.runMerged("qemu-img", "snapshot", "-d", "q1", img.toString());
    QemuTools.checkClean(img);
    QemuTools.runMerged("qemu-img", "snapshot", "-d", "ours", img.toString());
    QemuTools.checkClean(img);
    assertEquals("", QemuTools.runMerged("qemu-img", "snapshot", "-l", img.toString()));
    assertTrue(q2.length == 2 << 20);
  }

  /**
   * Patch 11's rule: an L2 table that two snapshots share and the active L1 no longer references
   * keeps INACTIVE_L2 when one of them is deleted (refcount 1, not active); the same table loses
   * it when it is active and the last snapshot referencing it goes (refcount 1, active).
   */
  @Test
  void l2TableSharedByTwoSnapshotsStaysInactiveAfterOneIsDeleted() throws Exception {
    Path img = dir.resolve("shared.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, create(512, "1.1"),
        TestOptions.openAll("windowed"))) {
      byte[] data = new byte[1 << 20];
      Arrays.fill(data, (byte) 7);
      image.write(0, data, 0, data.length);
      image.createSnapshot("s1");
      image.createSnapshot("s2");
      // Copy every L2 table away from the snapshots.
      for (int off = 0; off < data.length; off += 32768) {
        image.write(off, new byte[] {9}, 0, 1);
      }
      OverlapAgreement.assertAgree(image, "after copy-on-write of every L2 table");
      image.deleteSnapshot("s1");
      OverlapAgreement.assertAgree(image, "after delete s1 (tables now s2's alone)");
      image.applySnapshot("s2");
      OverlapAgreement.assertAgree(image, "after apply s2 (tables active and s2's)");
      image.deleteSnapshot("s2");
      OverlapAgreement.assertAgree(image, "after delete s2 (tables active alone)");
      assertArrayEquals(data, readAll(image));
    }
  }

  /**
   * Patch 8's fix: deleting a snapshot walks an inactive L1 table, so the L2 tables it shares with
   * the active L1 stay active L2 tables (only the active L1's walk removes ACTIVE_L2); they stop
   * being inactive (patch 11: refcount 1 and active). The shared table holds only zero clusters,
   * so no COPIED flag in it changes and the delete keeps it rather than copying it.
   */
  @Test
  void deletingASnapshotKeepsTheActiveL2TablesItShared() throws Exception {
    Path img = dir.resolve("p8.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, create(512, "1.1"),
        TestOptions.openAll("windowed"))) {
      image.write(0, new byte[4096], 0, 4096);
      image.discard(0, 4096); // an L2 table of zero clusters
      var checker = image.overlapChecker().orElseThrow();
      int active = io.qcow2.overlap.MetadataType.ACTIVE_L2.mask();
      int inactive = io.qcow2.overlap.MetadataType.INACTIVE_L2.mask();
      image.createSnapshot("s");
      image.applySnapshot("s"); // the active L1 now shares the snapshot's L2 table
      long l2 = image.activeL1()[0] & TableEntry.L1_OFFSET_MASK;
      assertEquals(active | inactive, checker.check(l2, 512, 0));
      image.deleteSnapshot("s");
      assertEquals(active, checker.check(l2, 512, 0));
      OverlapAgreement.assertAgree(image, "after delete");
    }
  }

  /**
   * Compressed clusters (several per host cluster), preallocated zero clusters and a backing file:
   * every kind of L2 entry takes part in the refcount walks.
   */
  @Test
  void compressedZeroAllocatedAndBackedClusters() throws Exception {
    QemuTools.assumeAvailable();
    Path backing = dir.resolve("backing.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", backing.toString(), "2M");
    QemuTools.ioMerged(backing, "write -P 0x77 1M 1M");
    Path plain = dir.resolve("plain.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", plain.toString(), "2M");
    QemuTools.ioMerged(plain, "write -P 0x31 0 256k", "write -P 0x32 512k 64k");
    Path img = dir.resolve("c.qcow2");
    QemuTools.runMerged("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096,backing_file="
        + backing + ",backing_fmt=qcow2", "-B", backing.toString(), plain.toString(), img.toString());
    // Preallocated zero clusters: zero an allocated range without unmapping it.
    QemuTools.ioMerged(img, "write -P 0x33 768k 64k", "write -z 768k 32k");
    byte[] before = QemuTools.readRaw(img);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.openAll("windowed"), true)) {
      image.createSnapshot("c");
      OverlapAgreement.assertAgree(image, "after create");
      image.write(4000, new byte[9000], 0, 9000);
      image.write(780 << 10, new byte[] {1}, 0, 1);
      image.write((1 << 20) + 5, new byte[] {2}, 0, 1);
      OverlapAgreement.assertAgree(image, "after copy-on-write of compressed and zero clusters");
      image.applySnapshot("c");
      assertArrayEquals(before, readAll(image));
      image.write(0, new byte[100], 0, 100);
      image.deleteSnapshot("c");
      OverlapAgreement.assertAgree(image, "after delete");
      byte[] expected = before.clone();
      Arrays.fill(expected, 0, 100, (byte) 0);
      assertArrayEquals(expected, readAll(image));
    }
    QemuTools.checkClean(img);
  }

  @Test
  void applyRestoresTheSnapshotsDiskSize() throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("r.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, create(512, "1.1"),
        TestOptions.openAll("windowed"))) {
      image.write(4096, new byte[] {1, 2, 3}, 0, 3);
      image.createSnapshot("small");
      image.resize(8 << 20);
      image.write((8 << 20) - 3, new byte[] {4, 5, 6}, 0, 3);
      OverlapAgreement.assertAgree(image, "after resize");
      image.createSnapshot("big");
      image.applySnapshot("small");
      assertEquals(1 << 20, image.virtualSize());
      OverlapAgreement.assertAgree(image, "after apply small");
      image.applySnapshot("big");
      assertEquals(8 << 20, image.virtualSize());
      byte[] tail = new byte[3];
      image.read((8 << 20) - 3, tail, 0, 3);
      assertArrayEquals(new byte[] {4, 5, 6}, tail);
      image.applySnapshot("small");
    }
    QemuTools.checkClean(img);
    assertTrue(QemuTools.runMerged("qemu-img", "info", img.toString()).contains("1 MiB"));
  }

  @Test
  void namesAreValidated() throws Exception {
    Path img = dir.resolve("n.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, Map.of(), TestOptions.open())) {
      image.createSnapshot("a");
      assertThrows(IllegalArgumentException.class, () -> image.createSnapshot(""));
      assertThrows(IllegalArgumentException.class, () -> image.createSnapshot("a"));
      IllegalArgumentException idClash =
          assertThrows(IllegalArgumentException.class, () -> image.createSnapshot("1"));
      assertTrue(idClash.getMessage().contains("already exists"), idClash.getMessage());
      assertThrows(IllegalArgumentException.class, () -> image.createSnapshot("x".repeat(256)));
      image.createSnapshot("x".repeat(255));
      IllegalArgumentException missing =
          assertThrows(IllegalArgumentException.class, () -> image.applySnapshot("nope"));
      assertEquals("Can't find the snapshot 'nope'", missing.getMessage());
      assertThrows(IllegalArgumentException.class, () -> image.deleteSnapshot("nope"));
      assertEquals(2, image.listSnapshots().size());
    }
  }

  @Test
  void refcountOverflowIsRefusedBeforeAnythingChanges() throws Exception {
    Path img = dir.resolve("o.qcow2");
    Map<String, String> options = new HashMap<>(create(512, "1.1"));
    options.put("refcount_bits", "1");
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, options, TestOptions.openAll("windowed"))) {
      image.write(0, new byte[1000], 0, 1000);
      Qcow2Exception e = assertThrows(Qcow2Exception.class, () -> image.createSnapshot("s"));
      assertTrue(e.getMessage().contains("maximum refcount"), e.getMessage());
      assertEquals(List.of(), image.listSnapshots());
      OverlapAgreement.assertAgree(image, "after refused create");
    }
  }

  @Test
  void tableLimitsAreEnforced() throws Exception {
    List<SnapshotTable.Entry> many = new ArrayList<>();
    SnapshotTable.Entry e = new SnapshotTable.Entry(0, 0, "1", "n", 0, 0, 0, 0, 0, 0, new byte[0]);
    for (int i = 0; i <= SnapshotTable.MAX_SNAPSHOTS; i++) {
      many.add(e);
    }
    Qcow2Exception count = assertThrows(Qcow2Exception.class, () -> SnapshotTable.encode(many));
    assertTrue(count.getMessage().contains("65536"), count.getMessage());
    List<SnapshotTable.Entry> big = new ArrayList<>();
    SnapshotTable.Entry fat = new SnapshotTable.Entry(0, 0, "1", "n", 0, 0, 0, 0, 0, 0, new byte[1024]);
    for (int i = 0; i < 63000; i++) {
      big.add(fat);
    }
    Qcow2Exception size = assertThrows(Qcow2Exception.class, () -> SnapshotTable.encode(big));
    assertTrue(size.getMessage().contains("64 MiB"), size.getMessage());
  }

  /** Extra data beyond the 24 bytes QEMU 7.2 knows survives a rewrite of the table, as in QEMU. */
  @Test
  void unknownExtraDataIsKeptWhenTheTableIsRewritten() throws Exception {
    Path img = dir.resolve("extra.qcow2");
    byte[] extra = new byte[32];
    Arrays.fill(extra, 24, 32, (byte) 0xab);
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, Map.of(), TestOptions.open())) {
      image.createSnapshot("old");
    }
    // Rewrite the table by hand with 8 bytes of future extra data.
    long offset;
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      SnapshotTable.Entry e = SnapshotTable.read(image.hostFile(), image.snapshots(), 1 << 20).get(0);
      byte[] table = SnapshotTable.encode(List.of(new SnapshotTable.Entry(e.l1Offset(), e.l1Size(),
          e.id(), e.name(), e.dateSeconds(), e.dateNanos(), e.vmClockNanos(), e.vmStateSize(),
          e.diskSize(), e.icount(), extra)));
      // In place: the table's cluster has room, and its refcount stays right.
      offset = image.header().snapshotsOffset;
      try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
        f.seek(offset);
        f.write(table);
      }
    }
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      image.createSnapshot("new");
      List<SnapshotTable.Entry> entries =
          SnapshotTable.read(image.hostFile(), image.snapshots(), 1 << 20);
      assertEquals(32, entries.get(0).extra().length);
      assertArrayEquals(Arrays.copyOfRange(extra, 24, 32), Arrays.copyOfRange(entries.get(0).extra(), 24, 32));
      assertEquals(24, entries.get(1).extra().length);
    }
  }

  /** A snapshot L1 entry from the file pointing past its end is refused before anything changes. */
  @Test
  void hostileSnapshotL1EntryIsRefusedBeforeAnyChange() throws Exception {
    Path img = dir.resolve("hostile.qcow2");
    long snapshotL1;
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, Map.of(), TestOptions.open())) {
      image.write(0, new byte[10], 0, 10);
      image.createSnapshot("s");
      snapshotL1 = image.snapshots().get(0).l1Offset();
    }
    ImageFiles.writeLong(img, snapshotL1, 1L << 40);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      CorruptImageException apply =
          assertThrows(CorruptImageException.class, () -> image.applySnapshot("s"));
      assertTrue(apply.getMessage().contains("beyond the end of the file"), apply.getMessage());
      assertThrows(CorruptImageException.class, () -> image.deleteSnapshot("s"));
      assertEquals(1, image.listSnapshots().size());
      OverlapAgreement.assertAgree(image, "after refusals");
    }
  }

  @Test
  void createIsRefusedWhenTheTableIsFull() throws Exception {
    Path img = dir.resolve("full.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20, Map.of(), TestOptions.open())) {
      image.write(0, new byte[10], 0, 10);
    }
    // Append a table of 65536 entries without L1 tables and point the header at it.
    List<SnapshotTable.Entry> full = new ArrayList<>();
    for (int i = 1; i <= SnapshotTable.MAX_SNAPSHOTS; i++) {
      full.add(new SnapshotTable.Entry(0, 0, Integer.toString(i), "s" + i, 0, 0, 0, 0, 1 << 20, 0,
          new byte[0]));
    }
    byte[] table = SnapshotTable.encode(full);
    long offset;
    try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
      offset = (f.length() + 65535) & ~65535L;
      f.seek(offset);
      f.write(table);
    }
    ImageFiles.writeInt(img, 60, full.size());
    ImageFiles.writeLong(img, 64, offset);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      assertEquals(SnapshotTable.MAX_SNAPSHOTS, image.listSnapshots().size());
      Qcow2Exception e = assertThrows(Qcow2Exception.class, () -> image.createSnapshot("more"));
      assertTrue(e.getMessage().contains("maximum of 65536 snapshots"), e.getMessage());
    }
  }


  /**
   * The checker forgets a table only when the engine retires it: a delete whose decrement would
   * take a table that is still active to refcount 0 (its refcount lowered on disk from 3 to 1
   * while the active L1 and two snapshots share it) is refused as a corruption event before
   * anything is written, and the snapshot is still there.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void deleteNeverFreesATableThatIsStillActive(String strategy) throws Exception {
    Path img = dir.resolve("shared.qcow2");
    int clusterSize = 65536;
    byte[] data = new byte[3 * clusterSize];
    Arrays.fill(data, (byte) 0x5a);
    try (Qcow2Image image = Qcow2Image.create(img, SIZE, create(clusterSize, "1.1"),
        TestOptions.openAll(strategy))) {
      image.write(0, data, 0, data.length);
      image.createSnapshot("s1");
      image.applySnapshot("s1"); // the active L1 and s1 now share the L2 table
      image.createSnapshot("s2"); // and s2 (a shared table is not copied)
    }
    long l1 = ImageFiles.readLong(img, 40);
    long l2 = ImageFiles.readLong(img, l1) & TableEntry.L1_OFFSET_MASK;
    long block = ImageFiles.readLong(img, ImageFiles.readLong(img, 48));
    long refcountAt = block + 2 * (l2 / clusterSize);
    assertEquals(3, ImageFiles.readInt(img, refcountAt) >>> 16, "refcount of the shared L2 table");
    ImageFiles.writeShort(img, refcountAt, 1);
    byte[] before = Files.readAllBytes(img);

    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.openAll(strategy), true)) {
      MetadataCorruptionException e = assertThrows(MetadataCorruptionException.class,
          () -> image.deleteSnapshot("s1"));
      assertEquals(String.format("Preventing invalid free of metadata (the refcount of the active L2 "
          + "table at offset 0x%x would drop to 0)", l2), e.event());
      assertTrue(e.markedCorrupt(), e.getMessage());
      assertEquals(List.of("s1", "s2"), image.listSnapshots().stream().map(SnapshotInfo::name).toList());
      assertArrayEquals(Arrays.copyOf(data, SIZE), readAll(image));
    }
    byte[] after = Files.readAllBytes(img);
    assertEquals(before.length, after.length, "nothing allocated");
    for (int i = 0; i < before.length; i++) {
      if (before[i] != after[i] && (i < 72 || i >= 80)) {
        throw new AssertionError(String.format("byte 0x%x changed (only the corrupt bit may)", i));
      }
    }
  }

  /**
   * The same rule for apply: the old active L2 table, which a snapshot still has (inactive), would
   * reach refcount 0 (lowered on disk from 2 to 1) as the active state leaves it: refused as a
   * corruption event before anything is written.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void applyNeverFreesATableASnapshotStillHas(String strategy) throws Exception {
    Path img = dir.resolve("apply.qcow2");
    int clusterSize = 65536;
    byte[] data = new byte[2 * clusterSize];
    Arrays.fill(data, (byte) 0x3c);
    try (Qcow2Image image = Qcow2Image.create(img, SIZE, create(clusterSize, "1.1"),
        TestOptions.openAll(strategy))) {
      image.write(0, data, 0, data.length);
      image.createSnapshot("s1");
      image.createSnapshot("s2");
      image.applySnapshot("s1"); // the active L1 and s1 share s1's L2 table
    }
    long l1 = ImageFiles.readLong(img, 40);
    long l2 = ImageFiles.readLong(img, l1) & TableEntry.L1_OFFSET_MASK;
    long block = ImageFiles.readLong(img, ImageFiles.readLong(img, 48));
    long refcountAt = block + 2 * (l2 / clusterSize);
    assertEquals(2, ImageFiles.readInt(img, refcountAt) >>> 16, "refcount of the shared L2 table");
    ImageFiles.writeShort(img, refcountAt, 1);
    byte[] before = Files.readAllBytes(img);

    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.openAll(strategy), true)) {
      MetadataCorruptionException e = assertThrows(MetadataCorruptionException.class,
          () -> image.applySnapshot("s2"));
      assertEquals(String.format("Preventing invalid free of metadata (the refcount of the inactive "
          + "L2 table at offset 0x%x would drop to 0)", l2), e.event());
      assertTrue(e.markedCorrupt(), e.getMessage());
      assertArrayEquals(Arrays.copyOf(data, SIZE), readAll(image));
    }
    byte[] after = Files.readAllBytes(img);
    assertEquals(before.length, after.length, "nothing allocated");
    for (int i = 0; i < before.length; i++) {
      if (before[i] != after[i] && (i < 72 || i >= 80)) {
        throw new AssertionError(String.format("byte 0x%x changed (only the corrupt bit may)", i));
      }
    }
  }
}
