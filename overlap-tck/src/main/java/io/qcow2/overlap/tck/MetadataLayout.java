package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A hand-placed metadata layout for contract tests: {@link #enter} and {@link #remove} put a type on
 * a cluster range both in this {@link MetadataView} and, as events, in the attached checkers, so
 * scanning and event-tracking strategies see the same metadata.
 *
 * <p>Per-cluster types (active and inactive L2 tables, refcount blocks, bitmap data clusters) become
 * table entries; their containing table (active L1, refcount table, a snapshot's L1 table, or a
 * bitmap table) is placed at {@link #PARK_CLUSTER} and beyond unless the test places it itself, so
 * keep checks below it. The single-instance types (active L1, refcount table, snapshot table,
 * bitmap directory) can be placed once at a time; each inactive L1 placement is a snapshot with an
 * empty L1 table, each bitmap table placement a bitmap with an empty table. The header is always
 * at cluster 0. Presence is a set per cluster: entering twice and removing once removes.
 */
public final class MetadataLayout implements MetadataView {
  /** First cluster of the parking area for containing tables. */
  public static final long PARK_CLUSTER = 1L << 30;
  /** Entries of a parked table. */
  static final int PARKED_ENTRIES = 1 << 14;

  private final int clusterBits;
  private final long entriesPerCluster;
  private final List<OverlapChecker> checkers = new ArrayList<>();

  private final List<Long> activeL2 = new ArrayList<>();
  private final List<Long> refcountBlocks = new ArrayList<>();
  private final List<Long> inactiveL2 = new ArrayList<>();
  private final List<Long> bitmapData = new ArrayList<>();
  private long[] activeL1;
  private boolean activeL1Parked;
  private long[] refcountTable;
  private boolean refcountTableParked;
  private long[] snapshotTable;
  private long[] bitmapDirectory;
  /** Snapshots placed as inactive L1 tables, each {first cluster, clusters}. */
  private final List<long[]> snapshots = new ArrayList<>();
  /** Bitmaps placed as bitmap tables, each {first cluster, clusters}. */
  private final List<long[]> bitmapTables = new ArrayList<>();

  public MetadataLayout(int clusterBits) {
    this.clusterBits = clusterBits;
    this.entriesPerCluster = (1L << clusterBits) / 8;
  }

  /** Attaches {@code checker} and enters the header (the only structure a fresh layout has). */
  public void attach(OverlapChecker checker) {
    Objects.requireNonNull(checker, "checker");
    if (activeL1 != null || refcountTable != null || !activeL2.isEmpty() || !snapshots.isEmpty()
        || snapshotTable != null || bitmapDirectory != null || !refcountBlocks.isEmpty()
        || !bitmapTables.isEmpty() || !bitmapData.isEmpty()) {
      throw new IllegalStateException("attach checkers before placing metadata");
    }
    checkers.add(checker);
    checker.enter(0, 1, MetadataType.MAIN_HEADER.mask());
  }

  /** Places {@code type} on clusters {@code [first, first + clusters)} and tells the checkers. */
  public void enter(MetadataType type, long first, long clusters) {
    switch (type) {
      case MAIN_HEADER:
        if (first != 0 || clusters != 1) {
          throw new IllegalArgumentException("the header is cluster 0");
        }
        break;
      case ACTIVE_L2:
        addEntries(activeL2, first, clusters);
        if (activeL1 == null) {
          activeL1 = range(PARK_CLUSTER, parkedClusters());
          activeL1Parked = true;
          send(true, MetadataType.ACTIVE_L1, activeL1);
        }
        break;
      case REFCOUNT_BLOCK:
        addEntries(refcountBlocks, first, clusters);
        if (refcountTable == null) {
          refcountTable = range(PARK_CLUSTER + 2 * parkedClusters(), parkedClusters());
          refcountTableParked = true;
          send(true, MetadataType.REFCOUNT_TABLE, refcountTable);
        }
        break;
      case INACTIVE_L2:
        if (inactiveL2.isEmpty()) {
          send(true, MetadataType.INACTIVE_L1, parkedSnapshot());
        }
        addEntries(inactiveL2, first, clusters);
        break;
      case BITMAP_DATA:
        if (bitmapData.isEmpty()) {
          send(true, MetadataType.BITMAP_TABLE, parkedBitmapTable());
        }
        addEntries(bitmapData, first, clusters);
        break;
      case BITMAP_TABLE:
        if (bitmapTables.stream().noneMatch(b -> same(b, first, clusters))) {
          bitmapTables.add(range(first, clusters));
        }
        break;
      case ACTIVE_L1:
        if (activeL1Parked) {
          send(false, MetadataType.ACTIVE_L1, activeL1);
          activeL1Parked = false;
        } else if (activeL1 != null && !same(activeL1, first, clusters)) {
          throw new IllegalStateException("the layout has one active L1 table");
        }
        activeL1 = range(first, clusters);
        break;
      case REFCOUNT_TABLE:
        if (refcountTableParked) {
          send(false, MetadataType.REFCOUNT_TABLE, refcountTable);
          refcountTableParked = false;
        } else if (refcountTable != null && !same(refcountTable, first, clusters)) {
          throw new IllegalStateException("the layout has one refcount table");
        }
        refcountTable = range(first, clusters);
        break;
      case SNAPSHOT_TABLE:
        if (snapshotTable != null && !same(snapshotTable, first, clusters)) {
          throw new IllegalStateException("the layout has one snapshot table");
        }
        snapshotTable = range(first, clusters);
        break;
      case BITMAP_DIRECTORY:
        if (bitmapDirectory != null && !same(bitmapDirectory, first, clusters)) {
          throw new IllegalStateException("the layout has one bitmap directory");
        }
        bitmapDirectory = range(first, clusters);
        break;
      case INACTIVE_L1:
        if (snapshots.stream().noneMatch(s -> same(s, first, clusters))) {
          snapshots.add(range(first, clusters));
        }
        break;
      default:
        throw new AssertionError(type);
    }
    send(true, type, range(first, clusters));
  }

  /**
   * Removes {@code type} from clusters {@code [first, first + clusters)} and tells the checkers.
   * Removing what is not there is harmless; single-instance structures are removed whole.
   */
  public void remove(MetadataType type, long first, long clusters) {
    boolean hadInactiveL2 = !inactiveL2.isEmpty();
    boolean hadBitmapData = !bitmapData.isEmpty();
    switch (type) {
      case MAIN_HEADER:
        throw new UnsupportedOperationException("the header cannot be removed");
      case ACTIVE_L2:
        removeEntries(activeL2, first, clusters);
        break;
      case REFCOUNT_BLOCK:
        removeEntries(refcountBlocks, first, clusters);
        break;
      case INACTIVE_L2:
        removeEntries(inactiveL2, first, clusters);
        break;
      case BITMAP_DATA:
        removeEntries(bitmapData, first, clusters);
        break;
      case BITMAP_TABLE:
        bitmapTables.removeIf(b -> same(b, first, clusters));
        for (long[] b : bitmapTables) {
          if (intersects(b, first, clusters)) {
            throw new UnsupportedOperationException("remove whole bitmap tables");
          }
        }
        break;
      case ACTIVE_L1:
        if (activeL1 != null && !activeL1Parked && same(activeL1, first, clusters)) {
          activeL1 = null;
          if (!activeL2.isEmpty()) {
            activeL1 = range(PARK_CLUSTER, parkedClusters());
            activeL1Parked = true;
            send(true, MetadataType.ACTIVE_L1, activeL1);
          }
        } else if (activeL1 != null && intersects(activeL1, first, clusters)) {
          throw new UnsupportedOperationException("remove the whole active L1 table");
        }
        break;
      case REFCOUNT_TABLE:
        if (refcountTable != null && !refcountTableParked && same(refcountTable, first, clusters)) {
          refcountTable = null;
          if (!refcountBlocks.isEmpty()) {
            refcountTable = range(PARK_CLUSTER + 2 * parkedClusters(), parkedClusters());
            refcountTableParked = true;
            send(true, MetadataType.REFCOUNT_TABLE, refcountTable);
          }
        } else if (refcountTable != null && intersects(refcountTable, first, clusters)) {
          throw new UnsupportedOperationException("remove the whole refcount table");
        }
        break;
      case SNAPSHOT_TABLE:
        snapshotTable = removeWhole(snapshotTable, first, clusters);
        break;
      case BITMAP_DIRECTORY:
        bitmapDirectory = removeWhole(bitmapDirectory, first, clusters);
        break;
      case INACTIVE_L1:
        snapshots.removeIf(s -> same(s, first, clusters));
        for (long[] s : snapshots) {
          if (intersects(s, first, clusters)) {
            throw new UnsupportedOperationException("remove whole inactive L1 tables");
          }
        }
        break;
      default:
        throw new AssertionError(type);
    }
    send(false, type, range(first, clusters));
    dropEmptyParkedTables(hadInactiveL2, hadBitmapData);
  }

  private void dropEmptyParkedTables(boolean hadInactiveL2, boolean hadBitmapData) {
    if (activeL1Parked && activeL2.isEmpty()) {
      send(false, MetadataType.ACTIVE_L1, activeL1);
      activeL1 = null;
      activeL1Parked = false;
    }
    if (refcountTableParked && refcountBlocks.isEmpty()) {
      send(false, MetadataType.REFCOUNT_TABLE, refcountTable);
      refcountTable = null;
      refcountTableParked = false;
    }
    if (hadInactiveL2 && inactiveL2.isEmpty()) {
      send(false, MetadataType.INACTIVE_L1, parkedSnapshot());
    }
    if (hadBitmapData && bitmapData.isEmpty()) {
      send(false, MetadataType.BITMAP_TABLE, parkedBitmapTable());
    }
  }

  private void send(boolean enter, MetadataType type, long[] range) {
    long offset = range[0] << clusterBits;
    for (OverlapChecker checker : checkers) {
      if (enter) {
        checker.enter(offset, range[1], type.mask());
      } else {
        checker.remove(offset, range[1], type.mask());
      }
    }
  }

  private long parkedClusters() {
    return Math.max(1, PARKED_ENTRIES / entriesPerCluster);
  }

  private long[] parkedSnapshot() {
    return range(PARK_CLUSTER + 4 * parkedClusters(), parkedClusters());
  }

  private long[] parkedBitmapTable() {
    return range(PARK_CLUSTER + 6 * parkedClusters(), parkedClusters());
  }

  private static long[] range(long first, long clusters) {
    return new long[] {first, clusters};
  }

  private static boolean same(long[] range, long first, long clusters) {
    return range[0] == first && range[1] == clusters;
  }

  private static boolean intersects(long[] range, long first, long clusters) {
    return first < range[0] + range[1] && range[0] < first + clusters;
  }

  private static long[] removeWhole(long[] range, long first, long clusters) {
    if (range == null || same(range, first, clusters)) {
      return null;
    }
    if (intersects(range, first, clusters)) {
      throw new UnsupportedOperationException("remove whole structures only");
    }
    return range;
  }

  private void addEntries(List<Long> entries, long first, long clusters) {
    for (long c = first; c < first + clusters; c++) {
      if (!entries.contains(c)) {
        entries.add(c);
      }
    }
    if (entries.size() > PARKED_ENTRIES) {
      throw new IllegalStateException("more than " + PARKED_ENTRIES + " entries");
    }
  }

  private static void removeEntries(List<Long> entries, long first, long clusters) {
    entries.removeIf(c -> c >= first && c < first + clusters);
  }

  private long entry(List<Long> entries, int index, long flags) {
    return index < entries.size() ? (entries.get(index) << clusterBits) | flags : 0;
  }

  private int tableSize(long[] table, List<Long> entries) {
    if (table == null) {
      return 0;
    }
    long size = table[1] * entriesPerCluster;
    if (size < entries.size()) {
      throw new IllegalStateException(
          "a table of " + table[1] + " clusters cannot hold " + entries.size() + " entries");
    }
    return Math.toIntExact(size);
  }

  // ---- MetadataView ----

  @Override
  public long activeL1Offset() {
    return activeL1 == null ? 0 : activeL1[0] << clusterBits;
  }

  @Override
  public int activeL1Size() {
    return tableSize(activeL1, activeL2);
  }

  @Override
  public long activeL1Entry(int index) {
    return entry(activeL2, index, SimulatedImage.COPIED);
  }

  @Override
  public long refcountTableOffset() {
    return refcountTable == null ? 0 : refcountTable[0] << clusterBits;
  }

  @Override
  public int refcountTableSize() {
    return tableSize(refcountTable, refcountBlocks);
  }

  @Override
  public long refcountTableEntry(int index) {
    return entry(refcountBlocks, index, 0);
  }

  @Override
  public long snapshotTableOffset() {
    return snapshotTable == null ? 0 : snapshotTable[0] << clusterBits;
  }

  @Override
  public long snapshotTableLength() {
    return snapshotTable == null ? 0 : snapshotTable[1] << clusterBits;
  }

  @Override
  public int snapshotCount() {
    return snapshots.size() + (inactiveL2.isEmpty() ? 0 : 1);
  }

  private long[] snapshotRange(int snapshot) {
    Objects.checkIndex(snapshot, snapshotCount());
    return snapshot < snapshots.size() ? snapshots.get(snapshot) : parkedSnapshot();
  }

  @Override
  public long snapshotL1Offset(int snapshot) {
    return snapshotRange(snapshot)[0] << clusterBits;
  }

  @Override
  public int snapshotL1Size(int snapshot) {
    return Math.toIntExact(snapshotRange(snapshot)[1] * entriesPerCluster);
  }

  @Override
  public String snapshotName(int snapshot) {
    Objects.checkIndex(snapshot, snapshotCount());
    return "layout snapshot " + snapshot;
  }

  @Override
  public long[] readSnapshotL1Table(int snapshot) {
    long[] table = new long[snapshotL1Size(snapshot)];
    if (snapshot == snapshots.size()) {
      for (int i = 0; i < inactiveL2.size(); i++) {
        table[i] = entry(inactiveL2, i, 0);
      }
    }
    return table;
  }

  @Override
  public long bitmapDirectoryOffset() {
    return bitmapDirectory == null ? 0 : bitmapDirectory[0] << clusterBits;
  }

  @Override
  public long bitmapDirectoryLength() {
    return bitmapDirectory == null ? 0 : bitmapDirectory[1] << clusterBits;
  }

  @Override
  public int bitmapCount() {
    return bitmapTables.size() + (bitmapData.isEmpty() ? 0 : 1);
  }

  private long[] bitmapTableRange(int bitmap) {
    Objects.checkIndex(bitmap, bitmapCount());
    return bitmap < bitmapTables.size() ? bitmapTables.get(bitmap) : parkedBitmapTable();
  }

  @Override
  public long bitmapTableOffset(int bitmap) {
    return bitmapTableRange(bitmap)[0] << clusterBits;
  }

  @Override
  public int bitmapTableSize(int bitmap) {
    return Math.toIntExact(bitmapTableRange(bitmap)[1] * entriesPerCluster);
  }

  @Override
  public long bitmapTableEntry(int bitmap, int index) {
    Objects.checkIndex(index, bitmapTableSize(bitmap));
    return bitmap == bitmapTables.size() ? entry(bitmapData, index, 0) : 0;
  }
}
