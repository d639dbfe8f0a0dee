package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;

/**
 * A simulated qcow2 host layout that changes the way a real image does, and tells attached {@link
 * OverlapChecker}s about every change with {@code enter}/{@code remove} events, so that its {@link
 * MetadataView} and the event stream describe the same metadata at every moment ({@link
 * #validate()} checks this).
 *
 * <p>What it simulates: the header at cluster 0; an active L1 table that grows by moving (new
 * clusters entered before the old ones are removed); L2 tables allocated into and freed from the
 * active L1 table; a refcount table that grows by moving, and refcount blocks (16-bit refcounts)
 * allocated whenever allocated clusters reach beyond the covered range; internal snapshots (the
 * active L1 table copied into new clusters, its L2 tables shared and marked inactive; the snapshot
 * table rewritten into new clusters on every change); a bitmap directory; persistent dirty bitmaps
 * (a bitmap table and the data clusters its entries point at, stored into new clusters that replace
 * the old ones as QEMU stores bitmaps at close, some entries all-ones without a cluster); guest
 * data clusters, which spread metadata out over the host file. Clusters come from a first-fit allocator.
 *
 * <p>Entries carry the flag bits a real image has ({@code QCOW_OFLAG_COPIED} on unshared L2
 * tables, the all-ones bit 0 on bitmap table entries without a cluster), so scanning strategies
 * must mask them.
 *
 * <p>Not thread-safe. Build large layouts with {@link #withL2Tables}; drive random histories with
 * {@link #randomStep}.
 */
public final class SimulatedImage implements MetadataView {
  /** {@code QCOW_OFLAG_COPIED}: the L2 table's refcount is exactly one. */
  static final long COPIED = 1L << 63;

  private static final int MAX_SNAPSHOTS = 5;
  private static final int MAX_BITMAPS = 4;
  /** Most entries of a random bitmap table (3 clusters at 512-byte clusters). */
  private static final int MAX_BITMAP_TABLE_ENTRIES = 192;
  /** A bitmap table entry's bit 0 without an offset: the cluster reads as all ones. */
  static final long BITMAP_ALL_ONES = 1;
  private static final int MAX_ACTIVE_L2 = 160;
  private static final long MAX_DATA_CLUSTERS = 1L << 17;
  /** Random steps grow the L1 and refcount tables only while they are smaller than this. */
  private static final int MAX_RANDOM_TABLE_ENTRIES = 512;

  private final int clusterBits;
  private final long clusterSize;
  /** Clusters one refcount block covers with 16-bit refcounts. */
  private final long clustersPerRefcountBlock;
  private final List<OverlapChecker> checkers = new ArrayList<>();
  /** Everything the events said so far; null for images built without self-checking. */
  private final ReferenceModel events;

  /** Clusters in use (metadata and data), indexed by cluster number. */
  private final BitSet used = new BitSet();
  /** Clusters referenced by the active L1 table. */
  private final BitSet activeL2 = new BitSet();
  /** Number of snapshot L1 entries referencing each L2 table, by cluster. */
  private final Map<Long, Integer> snapshotL2References = new HashMap<>();
  private final List<long[]> dataRuns = new ArrayList<>();
  private final List<Snapshot> snapshots = new ArrayList<>();
  private final List<Bitmap> bitmaps = new ArrayList<>();
  private int freeHint = 1;
  private long dataClusters;

  private long l1Offset;
  private long[] l1 = new long[0];
  private int activeL2Count;

  private long refcountTableOffset;
  private long[] refcountTable = new long[0];
  private int refcountBlocks;

  private long snapshotTableOffset;
  private long snapshotTableLength;
  private int nextSnapshotId = 1;

  private long bitmapDirectoryOffset;
  private long bitmapDirectoryLength;

  private boolean failSnapshotReads;

  private static final class Snapshot {
    final String name;
    final long l1Offset;
    final long[] l1;

    Snapshot(String name, long l1Offset, long[] l1) {
      this.name = name;
      this.l1Offset = l1Offset;
      this.l1 = l1;
    }
  }

  private static final class Bitmap {
    final long tableOffset;
    final long[] table;

    Bitmap(long tableOffset, long[] table) {
      this.tableOffset = tableOffset;
      this.table = table;
    }
  }

  /** A new image with a header, a refcount table and block and an empty 16-entry L1 table. */
  public SimulatedImage(int clusterBits) {
    this(clusterBits, true);
  }

  private SimulatedImage(int clusterBits, boolean selfChecking) {
    if (clusterBits < OverlapCheckerSetup.MIN_CLUSTER_BITS
        || clusterBits > OverlapCheckerSetup.MAX_CLUSTER_BITS) {
      throw new IllegalArgumentException("clusterBits " + clusterBits + " out of range");
    }
    this.clusterBits = clusterBits;
    this.clusterSize = 1L << clusterBits;
    this.clustersPerRefcountBlock = clusterSize * 8 / 16;
    this.events = selfChecking ? new ReferenceModel(clusterBits, MetadataType.ALL_MASK) : null;
    used.set(0);
    emit(true, 0, 1, MetadataType.MAIN_HEADER);
    growRefcountTable();
    coverRefcounts();
    growL1(16);
  }

  /**
   * An image with {@code l2Tables} active L2 tables in consecutive clusters, an L1 table to hold
   * them and the refcount blocks to cover them, built without per-step overhead; for benchmarks.
   * It keeps no event record, so {@link #validate()} checks only the view's own consistency.
   */
  public static SimulatedImage withL2Tables(int clusterBits, int l2Tables) {
    if (l2Tables < 0) {
      throw new IllegalArgumentException("l2Tables " + l2Tables + " is negative");
    }
    SimulatedImage image = new SimulatedImage(clusterBits, false);
    image.growL1(Math.max(l2Tables, 16));
    if (l2Tables == 0) {
      return image;
    }
    long first = image.allocate(l2Tables);
    for (int i = 0; i < l2Tables; i++) {
      image.l1[i] = ((first + i) << clusterBits) | COPIED;
    }
    image.activeL2.set(Math.toIntExact(first), Math.toIntExact(first + l2Tables));
    image.activeL2Count = l2Tables;
    image.coverRefcounts();
    return image;
  }

  // ---- listeners ----

  /**
   * Attaches {@code checker}: it is told about every existing structure now (in scan order) and
   * about every change from now on.
   */
  public void attach(OverlapChecker checker) {
    Objects.requireNonNull(checker, "checker");
    forEachStructure((first, clusters, type) ->
        checker.enter(first << clusterBits, clusters, type.mask()));
    checkers.add(checker);
  }

  /** Stops sending events to {@code checker}. */
  public void detach(OverlapChecker checker) {
    checkers.remove(checker);
  }

  private void emit(boolean enter, long firstCluster, long clusters, MetadataType type) {
    long offset = firstCluster << clusterBits;
    if (events != null) {
      apply(events, enter, offset, clusters, type);
    }
    for (OverlapChecker checker : checkers) {
      apply(checker, enter, offset, clusters, type);
    }
  }

  private static void apply(
      OverlapChecker checker, boolean enter, long offset, long clusters, MetadataType type) {
    if (enter) {
      checker.enter(offset, clusters, type.mask());
    } else {
      checker.remove(offset, clusters, type.mask());
    }
  }

  // ---- allocator ----

  /** First fit: the lowest run of {@code count} free clusters, marked used. */
  private long allocate(long count) {
    assert count > 0;
    int from = freeHint;
    while (true) {
      int start = used.nextClearBit(from);
      int end = used.nextSetBit(start);
      if (end < 0 || end - start >= count) {
        int last = Math.toIntExact(start + count);
        used.set(start, last);
        if (start == freeHint) {
          freeHint = used.nextClearBit(last);
        }
        return start;
      }
      from = end;
    }
  }

  private void free(long first, long count) {
    assert used.get(Math.toIntExact(first), Math.toIntExact(first + count)).cardinality() == count
        : "freeing clusters not in use at " + first;
    used.clear(Math.toIntExact(first), Math.toIntExact(first + count));
    freeHint = (int) Math.min(freeHint, first);
  }

  private long clustersFor(long bytes) {
    return (bytes + clusterSize - 1) >>> clusterBits;
  }

  /** Allocates refcount blocks (growing the table) until every used cluster is covered. */
  private void coverRefcounts() {
    while ((long) refcountBlocks * clustersPerRefcountBlock < used.length()) {
      allocateRefcountBlock();
    }
  }

  // ---- operations ----

  /** Moves the active L1 table to new clusters with room for at least {@code minEntries}. */
  public void growL1(int minEntries) {
    if (minEntries <= l1.length) {
      return;
    }
    int size = Math.max(minEntries, l1.length + l1.length / 2);
    long oldOffset = l1Offset;
    long oldClusters = clustersFor(8L * l1.length);
    long newClusters = clustersFor(8L * size);
    long first = allocate(newClusters);
    l1 = Arrays.copyOf(l1, size);
    l1Offset = first << clusterBits;
    emit(true, first, newClusters, MetadataType.ACTIVE_L1);
    if (oldClusters > 0) {
      emit(false, oldOffset >>> clusterBits, oldClusters, MetadataType.ACTIVE_L1);
      free(oldOffset >>> clusterBits, oldClusters);
    }
    coverRefcounts();
  }

  /** Moves the refcount table to new clusters, doubling it (at least 8 entries). */
  public void growRefcountTable() {
    int size = Math.max(8, refcountTable.length * 2);
    long oldOffset = refcountTableOffset;
    long oldClusters = clustersFor(8L * refcountTable.length);
    long newClusters = clustersFor(8L * size);
    long first = allocate(newClusters);
    refcountTable = Arrays.copyOf(refcountTable, size);
    refcountTableOffset = first << clusterBits;
    emit(true, first, newClusters, MetadataType.REFCOUNT_TABLE);
    if (oldClusters > 0) {
      emit(false, oldOffset >>> clusterBits, oldClusters, MetadataType.REFCOUNT_TABLE);
      free(oldOffset >>> clusterBits, oldClusters);
    }
  }

  /** Allocates the next refcount block, growing the refcount table if it is full. */
  public void allocateRefcountBlock() {
    if (refcountBlocks == refcountTable.length) {
      growRefcountTable();
    }
    long cluster = allocate(1);
    refcountTable[refcountBlocks++] = cluster << clusterBits;
    emit(true, cluster, 1, MetadataType.REFCOUNT_BLOCK);
  }

  /** Allocates an L2 table into a free L1 entry at or after {@code hint}; returns its index. */
  public int allocateL2(int hint) {
    int index = freeL1Index(hint);
    if (index < 0) {
      index = l1.length;
      growL1(l1.length + 1);
    }
    long cluster = allocate(1);
    l1[index] = (cluster << clusterBits) | COPIED;
    activeL2.set(Math.toIntExact(cluster));
    activeL2Count++;
    emit(true, cluster, 1, MetadataType.ACTIVE_L2);
    coverRefcounts();
    return index;
  }

  private int freeL1Index(int hint) {
    for (int i = 0; i < l1.length; i++) {
      int index = (int) ((hint + (long) i) % l1.length);
      if (l1[index] == 0) {
        return index;
      }
    }
    return -1;
  }

  /**
   * Clears L1 entry {@code index}; the L2 table is freed unless a snapshot still references it,
   * in which case it stays as an inactive L2 table.
   */
  public void freeL2(int index) {
    long cluster = l2Cluster(l1[index]);
    if (cluster == 0) {
      throw new IllegalArgumentException("L1 entry " + index + " is empty");
    }
    l1[index] = 0;
    activeL2.clear(Math.toIntExact(cluster));
    activeL2Count--;
    emit(false, cluster, 1, MetadataType.ACTIVE_L2);
    if (!snapshotL2References.containsKey(cluster)) {
      free(cluster, 1);
    }
  }

  /**
   * Copy-on-write of a shared L2 table: the active L1 entry {@code index} gets a new copy, the old
   * table stays with the snapshots.
   */
  public void copyOnWriteL2(int index) {
    long old = l2Cluster(l1[index]);
    if (old == 0 || !snapshotL2References.containsKey(old)) {
      throw new IllegalArgumentException("L1 entry " + index + " is not a shared L2 table");
    }
    long cluster = allocate(1);
    l1[index] = (cluster << clusterBits) | COPIED;
    activeL2.set(Math.toIntExact(cluster));
    activeL2.clear(Math.toIntExact(old));
    emit(true, cluster, 1, MetadataType.ACTIVE_L2);
    emit(false, old, 1, MetadataType.ACTIVE_L2);
    coverRefcounts();
  }

  /** Takes an internal snapshot: copies the active L1 table, shares its L2 tables. */
  public void addSnapshot() {
    long[] copy = new long[l1.length];
    for (int i = 0; i < l1.length; i++) {
      l1[i] &= ~COPIED;
      copy[i] = l1[i];
    }
    long clusters = clustersFor(8L * copy.length);
    long first = allocate(clusters);
    emit(true, first, clusters, MetadataType.INACTIVE_L1);
    for (long entry : copy) {
      long cluster = l2Cluster(entry);
      if (cluster != 0 && snapshotL2References.merge(cluster, 1, Integer::sum) == 1) {
        emit(true, cluster, 1, MetadataType.INACTIVE_L2);
      }
    }
    int id = nextSnapshotId++;
    snapshots.add(new Snapshot("id " + id + " 'snap-" + id + "'", first << clusterBits, copy));
    coverRefcounts();
    rewriteSnapshotTable();
  }

  /**
   * Deletes snapshot {@code index}: the snapshot table is rewritten, its L1 table freed, and each
   * of its L2 tables stops being inactive unless another snapshot references it (and is freed
   * unless the active L1 table references it).
   */
  public void dropSnapshot(int index) {
    Snapshot snapshot = snapshots.remove(index);
    rewriteSnapshotTable();
    long clusters = clustersFor(8L * snapshot.l1.length);
    emit(false, snapshot.l1Offset >>> clusterBits, clusters, MetadataType.INACTIVE_L1);
    free(snapshot.l1Offset >>> clusterBits, clusters);
    for (long entry : snapshot.l1) {
      long cluster = l2Cluster(entry);
      if (cluster == 0) {
        continue;
      }
      int references = snapshotL2References.merge(cluster, -1, Integer::sum);
      if (references == 0) {
        snapshotL2References.remove(cluster);
        emit(false, cluster, 1, MetadataType.INACTIVE_L2);
        if (!activeL2.get(Math.toIntExact(cluster))) {
          free(cluster, 1);
        }
      }
    }
  }

  private void rewriteSnapshotTable() {
    long length = 0;
    for (Snapshot snapshot : snapshots) {
      // QCowSnapshotHeader (48) + extra data (16) + id and name, padded to 8 bytes.
      length += (48 + 16 + snapshot.name.length() + 7) & ~7L;
    }
    long oldFirst = snapshotTableOffset >>> clusterBits;
    long oldClusters = clustersFor(snapshotTableLength);
    long newClusters = clustersFor(length);
    long first = newClusters == 0 ? 0 : allocate(newClusters);
    snapshotTableOffset = first << clusterBits;
    snapshotTableLength = length;
    if (newClusters > 0) {
      emit(true, first, newClusters, MetadataType.SNAPSHOT_TABLE);
    }
    if (oldClusters > 0) {
      emit(false, oldFirst, oldClusters, MetadataType.SNAPSHOT_TABLE);
      free(oldFirst, oldClusters);
    }
    coverRefcounts();
  }

  /** Writes a bitmap directory of {@code length} bytes into new clusters, freeing the old one. */
  public void writeBitmapDirectory(long length) {
    if (length <= 0) {
      throw new IllegalArgumentException("length " + length + " must be positive");
    }
    long oldFirst = bitmapDirectoryOffset >>> clusterBits;
    long oldClusters = clustersFor(bitmapDirectoryLength);
    long newClusters = clustersFor(length);
    long first = allocate(newClusters);
    bitmapDirectoryOffset = first << clusterBits;
    bitmapDirectoryLength = length;
    emit(true, first, newClusters, MetadataType.BITMAP_DIRECTORY);
    if (oldClusters > 0) {
      emit(false, oldFirst, oldClusters, MetadataType.BITMAP_DIRECTORY);
      free(oldFirst, oldClusters);
    }
    coverRefcounts();
  }

  /** Removes the bitmap directory, if any. */
  public void dropBitmapDirectory() {
    long clusters = clustersFor(bitmapDirectoryLength);
    if (clusters > 0) {
      emit(false, bitmapDirectoryOffset >>> clusterBits, clusters, MetadataType.BITMAP_DIRECTORY);
      free(bitmapDirectoryOffset >>> clusterBits, clusters);
    }
    bitmapDirectoryOffset = 0;
    bitmapDirectoryLength = 0;
  }

  /**
   * Stores a persistent dirty bitmap into new clusters, as QEMU's store_bitmap: one data cluster for
   * each of {@code dataClusters} entries of a table of {@code tableEntries} entries, then the table;
   * with {@code replace} in {@code [0, bitmapCount())} the old bitmap of that index is freed after
   * (QEMU frees the old tables once the new directory is written), else the bitmap is added. Every
   * third entry without a cluster is all ones.
   */
  public void storeBitmap(int tableEntries, int dataClusters, int replace) {
    if (tableEntries <= 0 || dataClusters < 0 || dataClusters > tableEntries) {
      throw new IllegalArgumentException(
          "tableEntries " + tableEntries + ", dataClusters " + dataClusters);
    }
    long[] table = new long[tableEntries];
    int step = tableEntries / Math.max(1, dataClusters);
    for (int i = 0, placed = 0; i < tableEntries; i++) {
      if (placed < dataClusters && (i % step == 0 || tableEntries - i == dataClusters - placed)) {
        long cluster = allocate(1);
        table[i] = cluster << clusterBits;
        emit(true, cluster, 1, MetadataType.BITMAP_DATA);
        placed++;
      } else if (i % 3 == 0) {
        table[i] = BITMAP_ALL_ONES;
      }
    }
    long clusters = clustersFor(8L * tableEntries);
    long first = allocate(clusters);
    emit(true, first, clusters, MetadataType.BITMAP_TABLE);
    Bitmap bitmap = new Bitmap(first << clusterBits, table);
    if (replace >= 0 && replace < bitmaps.size()) {
      dropBitmap(replace);
      bitmaps.add(replace, bitmap);
    } else {
      bitmaps.add(bitmap);
    }
    coverRefcounts();
  }

  /** Removes bitmap {@code index}: its table and data clusters are freed. */
  public void dropBitmap(int index) {
    Bitmap bitmap = bitmaps.remove(index);
    long clusters = clustersFor(8L * bitmap.table.length);
    emit(false, bitmap.tableOffset >>> clusterBits, clusters, MetadataType.BITMAP_TABLE);
    free(bitmap.tableOffset >>> clusterBits, clusters);
    for (long entry : bitmap.table) {
      long cluster = (entry & BITMAP_TABLE_OFFSET_MASK) >>> clusterBits;
      if (cluster != 0) {
        emit(false, cluster, 1, MetadataType.BITMAP_DATA);
        free(cluster, 1);
      }
    }
  }

  /** Allocates {@code count} guest data clusters (not metadata); they push metadata further out. */
  public void allocateData(long count) {
    long first = allocate(count);
    dataRuns.add(new long[] {first, count});
    dataClusters += count;
    coverRefcounts();
  }

  /** Frees the data run {@code index} (in allocation order). */
  public void freeData(int index) {
    long[] run = dataRuns.remove(index);
    dataClusters -= run[1];
    free(run[0], run[1]);
  }

  /** Makes {@link #readSnapshotL1Table} throw {@link IOException} (a failing disk), or not. */
  public void setFailSnapshotReads(boolean fail) {
    this.failSnapshotReads = fail;
  }

  /**
   * Applies one random operation, chosen so the image stays small (at most a few hundred metadata
   * clusters, a few snapshots) but spread over up to about 2^17 clusters, across several
   * 65536-cluster boundaries; returns what it did.
   */
  public String randomStep(Random random) {
    int roll = random.nextInt(100);
    if (roll < 30 && activeL2Count < MAX_ACTIVE_L2) {
      int index = allocateL2(random.nextInt(Math.max(1, l1.length)));
      return "allocateL2 -> L1[" + index + "]";
    }
    if (roll < 50 && activeL2Count > 0) {
      int index = randomUsedL1Index(random);
      String what = "freeL2 L1[" + index + "] at cluster " + l2Cluster(l1[index]);
      freeL2(index);
      return what;
    }
    if (roll < 58) {
      for (int tries = 0; tries < 8 && activeL2Count > 0; tries++) {
        int index = randomUsedL1Index(random);
        if (snapshotL2References.containsKey(l2Cluster(l1[index]))) {
          copyOnWriteL2(index);
          return "copyOnWriteL2 L1[" + index + "]";
        }
      }
    }
    if (roll < 62 && l1.length < MAX_RANDOM_TABLE_ENTRIES) {
      int size = l1.length + 1 + random.nextInt(64);
      growL1(size);
      return "growL1 to " + size;
    }
    if (roll < 64 && refcountTable.length < MAX_RANDOM_TABLE_ENTRIES) {
      growRefcountTable();
      return "growRefcountTable to " + refcountTable.length;
    }
    if (roll < 66
        && refcountBlocks * clustersPerRefcountBlock < used.length() + 4 * clustersPerRefcountBlock) {
      allocateRefcountBlock();
      return "allocateRefcountBlock #" + refcountBlocks;
    }
    if (roll < 72 && snapshots.size() < MAX_SNAPSHOTS) {
      addSnapshot();
      return "addSnapshot " + snapshots.get(snapshots.size() - 1).name;
    }
    if (roll < 78 && !snapshots.isEmpty()) {
      int index = random.nextInt(snapshots.size());
      String what = "dropSnapshot " + snapshots.get(index).name;
      dropSnapshot(index);
      return what;
    }
    if (roll < 81) {
      long length = 1 + random.nextInt((int) Math.min(3 * clusterSize, 1 << 16));
      writeBitmapDirectory(length);
      return "writeBitmapDirectory " + length + " bytes";
    }
    if (roll < 83) {
      dropBitmapDirectory();
      return "dropBitmapDirectory";
    }
    if (roll < 87 && bitmaps.size() < MAX_BITMAPS) {
      int entries = 1 + random.nextInt(
          (int) Math.min(MAX_BITMAP_TABLE_ENTRIES, 3 * clusterSize / 8));
      int data = random.nextInt(Math.min(entries, 32) + 1);
      int replace = random.nextBoolean() ? random.nextInt(bitmaps.size() + 1) : bitmaps.size();
      String what = "storeBitmap " + entries + " entries, " + data + " data clusters"
          + (replace < bitmaps.size() ? ", replacing #" + replace : "");
      storeBitmap(entries, data, replace);
      return what;
    }
    if (roll < 89 && !bitmaps.isEmpty()) {
      int index = random.nextInt(bitmaps.size());
      dropBitmap(index);
      return "dropBitmap #" + index;
    }
    if (roll < 95 && dataClusters < MAX_DATA_CLUSTERS) {
      long count = random.nextInt(50) == 0 ? 1 + random.nextInt(1 << 16) : 1 + random.nextInt(64);
      allocateData(count);
      return "allocateData " + count + " clusters";
    }
    if (!dataRuns.isEmpty()) {
      int index = random.nextInt(dataRuns.size());
      String what = "freeData " + dataRuns.get(index)[1] + " clusters at " + dataRuns.get(index)[0];
      freeData(index);
      return what;
    }
    int index = allocateL2(0);
    return "allocateL2 -> L1[" + index + "]";
  }

  private int randomUsedL1Index(Random random) {
    int start = random.nextInt(l1.length);
    for (int i = 0; i < l1.length; i++) {
      int index = (start + i) % l1.length;
      if (l1[index] != 0) {
        return index;
      }
    }
    throw new IllegalStateException("no L2 table in the active L1 table");
  }

  /**
   * A cluster at or next to a random metadata structure: its first or last cluster, or the cluster
   * just before or after it; for checks that probe boundaries.
   */
  public long randomClusterNearMetadata(Random random) {
    long first = 0;
    long clusters = 1;
    switch (random.nextInt(11)) {
      case 1:
        first = l1Offset >>> clusterBits;
        clusters = clustersFor(8L * l1.length);
        break;
      case 2:
        if (activeL2Count > 0) {
          first = l2Cluster(l1[randomUsedL1Index(random)]);
        }
        break;
      case 3:
        first = refcountTableOffset >>> clusterBits;
        clusters = clustersFor(8L * refcountTable.length);
        break;
      case 4:
        if (refcountBlocks > 0) {
          first = refcountTable[random.nextInt(refcountBlocks)] >>> clusterBits;
        }
        break;
      case 5:
        if (snapshotTableLength > 0) {
          first = snapshotTableOffset >>> clusterBits;
          clusters = clustersFor(snapshotTableLength);
        }
        break;
      case 6:
        if (!snapshots.isEmpty()) {
          Snapshot snapshot = snapshots.get(random.nextInt(snapshots.size()));
          first = snapshot.l1Offset >>> clusterBits;
          clusters = clustersFor(8L * snapshot.l1.length);
        }
        break;
      case 7:
        if (!snapshots.isEmpty()) {
          long[] table = snapshots.get(random.nextInt(snapshots.size())).l1;
          int start = random.nextInt(table.length);
          for (int i = 0; i < table.length && first == 0; i++) {
            first = l2Cluster(table[(start + i) % table.length]);
          }
        }
        break;
      case 8:
        if (bitmapDirectoryLength > 0) {
          first = bitmapDirectoryOffset >>> clusterBits;
          clusters = clustersFor(bitmapDirectoryLength);
        }
        break;
      case 9:
        if (!bitmaps.isEmpty()) {
          Bitmap bitmap = bitmaps.get(random.nextInt(bitmaps.size()));
          first = bitmap.tableOffset >>> clusterBits;
          clusters = clustersFor(8L * bitmap.table.length);
        }
        break;
      case 10:
        if (!bitmaps.isEmpty()) {
          long[] table = bitmaps.get(random.nextInt(bitmaps.size())).table;
          int start = random.nextInt(table.length);
          for (int i = 0; i < table.length && first == 0; i++) {
            first = (table[(start + i) % table.length] & BITMAP_TABLE_OFFSET_MASK) >>> clusterBits;
          }
        }
        break;
      default:
        break;
    }
    long cluster = random.nextBoolean() ? first : first + clusters - 1;
    return Math.max(0, cluster + random.nextInt(3) - 1);
  }

  private long l2Cluster(long entry) {
    return (entry & L1_OFFSET_MASK) >>> clusterBits;
  }

  // ---- inspection ----

  public int clusterBits() {
    return clusterBits;
  }

  /** One past the highest cluster in use. */
  public long hostClusters() {
    return used.length();
  }

  public int activeL2Count() {
    return activeL2Count;
  }

  public int refcountBlockCount() {
    return refcountBlocks;
  }

  /** A visitor of metadata structures, as cluster ranges. */
  @FunctionalInterface
  public interface StructureVisitor {
    void visit(long firstCluster, long clusters, MetadataType type);
  }

  /**
   * Visits every metadata structure the image's own bookkeeping holds, in QEMU's scan order; an L2
   * table shared by the active L1 table and snapshots is visited once per type.
   */
  public void forEachStructure(StructureVisitor visitor) {
    visitor.visit(0, 1, MetadataType.MAIN_HEADER);
    if (l1.length > 0) {
      visitor.visit(l1Offset >>> clusterBits, clustersFor(8L * l1.length), MetadataType.ACTIVE_L1);
    }
    if (refcountTable.length > 0) {
      visitor.visit(refcountTableOffset >>> clusterBits, clustersFor(8L * refcountTable.length),
          MetadataType.REFCOUNT_TABLE);
    }
    if (snapshotTableLength > 0) {
      visitor.visit(snapshotTableOffset >>> clusterBits, clustersFor(snapshotTableLength),
          MetadataType.SNAPSHOT_TABLE);
    }
    for (Snapshot snapshot : snapshots) {
      visitor.visit(snapshot.l1Offset >>> clusterBits, clustersFor(8L * snapshot.l1.length),
          MetadataType.INACTIVE_L1);
    }
    for (int c = activeL2.nextSetBit(0); c >= 0; c = activeL2.nextSetBit(c + 1)) {
      visitor.visit(c, 1, MetadataType.ACTIVE_L2);
    }
    for (int i = 0; i < refcountBlocks; i++) {
      visitor.visit(refcountTable[i] >>> clusterBits, 1, MetadataType.REFCOUNT_BLOCK);
    }
    snapshotL2References.keySet().stream().sorted()
        .forEach(c -> visitor.visit(c, 1, MetadataType.INACTIVE_L2));
    if (bitmapDirectoryLength > 0) {
      visitor.visit(bitmapDirectoryOffset >>> clusterBits, clustersFor(bitmapDirectoryLength),
          MetadataType.BITMAP_DIRECTORY);
    }
    for (Bitmap bitmap : bitmaps) {
      visitor.visit(bitmap.tableOffset >>> clusterBits, clustersFor(8L * bitmap.table.length),
          MetadataType.BITMAP_TABLE);
    }
    for (Bitmap bitmap : bitmaps) {
      for (long entry : bitmap.table) {
        long cluster = (entry & BITMAP_TABLE_OFFSET_MASK) >>> clusterBits;
        if (cluster != 0) {
          visitor.visit(cluster, 1, MetadataType.BITMAP_DATA);
        }
      }
    }
  }

  /**
   * The per-cluster type masks the {@link MetadataView} describes, found by scanning it the way
   * QEMU's check does (entries masked, zero entries skipped, tables rounded out to clusters).
   */
  public Map<Long, Integer> scanView() {
    Map<Long, Integer> types = new HashMap<>();
    StructureVisitor add = (first, clusters, type) -> {
      for (long c = first; c < first + clusters; c++) {
        types.merge(c, type.mask(), (a, b) -> a | b);
      }
    };
    add.visit(0, 1, MetadataType.MAIN_HEADER);
    if (activeL1Size() > 0) {
      add.visit(activeL1Offset() >>> clusterBits, clustersFor(8L * activeL1Size()),
          MetadataType.ACTIVE_L1);
    }
    if (refcountTableSize() > 0) {
      add.visit(refcountTableOffset() >>> clusterBits, clustersFor(8L * refcountTableSize()),
          MetadataType.REFCOUNT_TABLE);
    }
    if (snapshotTableLength() > 0) {
      add.visit(snapshotTableOffset() >>> clusterBits, clustersFor(snapshotTableLength()),
          MetadataType.SNAPSHOT_TABLE);
    }
    for (int s = 0; s < snapshotCount(); s++) {
      if (snapshotL1Size(s) > 0) {
        add.visit(snapshotL1Offset(s) >>> clusterBits, clustersFor(8L * snapshotL1Size(s)),
            MetadataType.INACTIVE_L1);
      }
    }
    for (int i = 0; i < activeL1Size(); i++) {
      long offset = activeL1Entry(i) & L1_OFFSET_MASK;
      if (offset != 0) {
        add.visit(offset >>> clusterBits, 1, MetadataType.ACTIVE_L2);
      }
    }
    for (int i = 0; i < refcountTableSize(); i++) {
      long offset = refcountTableEntry(i) & REFCOUNT_TABLE_OFFSET_MASK;
      if (offset != 0) {
        add.visit(offset >>> clusterBits, 1, MetadataType.REFCOUNT_BLOCK);
      }
    }
    for (Snapshot snapshot : snapshots) {
      for (long entry : snapshot.l1) {
        long offset = entry & L1_OFFSET_MASK;
        if (offset != 0) {
          add.visit(offset >>> clusterBits, 1, MetadataType.INACTIVE_L2);
        }
      }
    }
    if (bitmapDirectoryLength() > 0) {
      add.visit(bitmapDirectoryOffset() >>> clusterBits, clustersFor(bitmapDirectoryLength()),
          MetadataType.BITMAP_DIRECTORY);
    }
    for (int b = 0; b < bitmapCount(); b++) {
      add.visit(bitmapTableOffset(b) >>> clusterBits, clustersFor(8L * bitmapTableSize(b)),
          MetadataType.BITMAP_TABLE);
      for (int i = 0; i < bitmapTableSize(b); i++) {
        long offset = bitmapTableEntry(b, i) & BITMAP_TABLE_OFFSET_MASK;
        if (offset != 0) {
          add.visit(offset >>> clusterBits, 1, MetadataType.BITMAP_DATA);
        }
      }
    }
    return types;
  }

  /**
   * Checks the image's invariants: every structure lies on used clusters; structures do not share
   * clusters (except an L2 table that is both active and inactive); the bookkeeping agrees with the
   * view; and, unless built by {@link #withL2Tables}, the events sent so far describe exactly what
   * the view describes.
   *
   * @throws IllegalStateException describing the first violation
   */
  public void validate() {
    Map<Long, Integer> fromView = scanView();
    Map<Long, Integer> fromBookkeeping = new HashMap<>();
    int shared = MetadataType.maskOf(MetadataType.ACTIVE_L2, MetadataType.INACTIVE_L2);
    forEachStructure((first, clusters, type) -> {
      for (long c = first; c < first + clusters; c++) {
        if (!used.get(Math.toIntExact(c))) {
          throw new IllegalStateException(type + " on free cluster " + c);
        }
        Integer old = fromBookkeeping.get(c);
        if (old != null && ((old | type.mask()) & ~shared) != 0) {
          throw new IllegalStateException(String.format("cluster %d holds both %s and %s",
              c, MetadataType.describe(old), type.description()));
        }
        fromBookkeeping.merge(c, type.mask(), (a, b) -> a | b);
      }
    });
    if (!fromView.equals(fromBookkeeping)) {
      throw new IllegalStateException(
          "view and bookkeeping differ: " + difference(fromView, fromBookkeeping));
    }
    if (events != null && !events.hasClusters(fromView)) {
      throw new IllegalStateException(
          "view and event stream differ: " + difference(fromView, events.clusters()));
    }
    if (activeL2.cardinality() != activeL2Count) {
      throw new IllegalStateException("active L2 count " + activeL2Count + " but "
          + activeL2.cardinality() + " tables");
    }
    if ((long) refcountBlocks * clustersPerRefcountBlock < used.length()) {
      throw new IllegalStateException("clusters beyond " + refcountBlocks * clustersPerRefcountBlock
          + " have no refcount block");
    }
  }

  private static String difference(Map<Long, Integer> expected, Map<Long, Integer> actual) {
    StringBuilder out = new StringBuilder();
    for (Map.Entry<Long, Integer> e : expected.entrySet()) {
      int other = actual.getOrDefault(e.getKey(), 0);
      if (other != e.getValue()) {
        out.append(String.format("cluster %d: %s vs %s; ", e.getKey(),
            MetadataType.describe(e.getValue()), MetadataType.describe(other)));
      }
    }
    for (Map.Entry<Long, Integer> e : actual.entrySet()) {
      if (!expected.containsKey(e.getKey())) {
        out.append(String.format("cluster %d: none vs %s; ", e.getKey(),
            MetadataType.describe(e.getValue())));
      }
    }
    return out.toString();
  }

  // ---- MetadataView ----

  @Override
  public long activeL1Offset() {
    return l1Offset;
  }

  @Override
  public int activeL1Size() {
    return l1.length;
  }

  @Override
  public long activeL1Entry(int index) {
    return l1[index];
  }

  @Override
  public long refcountTableOffset() {
    return refcountTableOffset;
  }

  @Override
  public int refcountTableSize() {
    return refcountTable.length;
  }

  @Override
  public long refcountTableEntry(int index) {
    return refcountTable[index];
  }

  @Override
  public long snapshotTableOffset() {
    return snapshotTableOffset;
  }

  @Override
  public long snapshotTableLength() {
    return snapshotTableLength;
  }

  @Override
  public int snapshotCount() {
    return snapshots.size();
  }

  @Override
  public long snapshotL1Offset(int snapshot) {
    return snapshots.get(snapshot).l1Offset;
  }

  @Override
  public int snapshotL1Size(int snapshot) {
    return snapshots.get(snapshot).l1.length;
  }

  @Override
  public String snapshotName(int snapshot) {
    return snapshots.get(snapshot).name;
  }

  @Override
  public long[] readSnapshotL1Table(int snapshot) throws IOException {
    Snapshot s = snapshots.get(snapshot);
    if (failSnapshotReads) {
      throw new IOException("simulated read error at offset " + s.l1Offset);
    }
    return s.l1.clone();
  }

  @Override
  public long bitmapDirectoryOffset() {
    return bitmapDirectoryOffset;
  }

  @Override
  public long bitmapDirectoryLength() {
    return bitmapDirectoryLength;
  }

  @Override
  public int bitmapCount() {
    return bitmaps.size();
  }

  @Override
  public long bitmapTableOffset(int bitmap) {
    return bitmaps.get(bitmap).tableOffset;
  }

  @Override
  public int bitmapTableSize(int bitmap) {
    return bitmaps.get(bitmap).table.length;
  }

  @Override
  public long bitmapTableEntry(int bitmap, int index) {
    return bitmaps.get(bitmap).table[index];
  }
}
