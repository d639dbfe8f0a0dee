package io.qcow2.format;

import static io.qcow2.format.TableEntry.L1_OFFSET_MASK;
import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.BITMAP_DIRECTORY;
import static io.qcow2.overlap.MetadataType.INACTIVE_L1;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.MAIN_HEADER;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static io.qcow2.overlap.MetadataType.REFCOUNT_TABLE;
import static io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE;

import com.google.common.collect.ImmutableList;
import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The image's metadata as it is now: the snapshot table (the rest lives in {@link Header}, {@link
 * ActiveTables} and {@link Refcounts}), seen as the {@link MetadataView} scanning strategies read,
 * and entered whole into a new overlap checker at open and after a corruption event.
 */
final class LiveMetadata implements MetadataView {
  private final HostFile file;
  private final Header header;
  private final ActiveTables tables;
  private final Refcounts refcounts;
  private final PersistentBitmaps bitmaps;
  private final int clusterBits;
  private final int clusterSize;
  private ImmutableList<Snapshot> snapshots;
  private long snapshotTableLength;

  LiveMetadata(HostFile file, Header header, ActiveTables tables, Refcounts refcounts,
      PersistentBitmaps bitmaps) throws IOException {
    this.file = file;
    this.header = header;
    this.tables = tables;
    this.refcounts = refcounts;
    this.bitmaps = bitmaps;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.snapshots = header.snapshotCount == 0 ? ImmutableList.of()
        : ImmutableList.copyOf(Snapshot.readTable(file.io(), header.snapshotsOffset, header.snapshotCount, clusterBits));
    this.snapshotTableLength = Snapshot.tableLength(snapshots, header.snapshotsOffset, file.io());
  }

  /** The snapshot table, validated at open. */
  List<Snapshot> snapshots() {
    return snapshots;
  }

  /** Installs a new snapshot table (already on disk) as the one the view and the checker see. */
  void replaceSnapshots(List<Snapshot> table, long length) {
    snapshots = ImmutableList.copyOf(table);
    snapshotTableLength = length;
  }

  /**
   * Gives the image a new checker (per {@code options}) holding every metadata structure its mode
   * covers, as QEMU sets it up at open; after a corruption event the same from the reloaded state.
   */
  void track(Map<String, String> options) throws IOException {
    file.tracker = MetadataTracker.of(OverlapCheckers.create(options, clusterBits, this));
    enterMetadata();
  }

  private void enterMetadata() throws IOException {
    MetadataTracker checker = file.tracker;
    int mask = checker.enabledMask();
    if (mask == 0) {
      return;
    }
    checker.enter(0, 1, MAIN_HEADER.mask());
    if (tables.l1().length > 0) {
      checker.enter(header.l1Offset, tables.clustersFor(tables.l1().length * 8L), ACTIVE_L1.mask());
    }
    for (long e : tables.l1()) {
      enterTable(e & L1_OFFSET_MASK, ACTIVE_L2);
    }
    checker.enter(header.refcountTableOffset, header.refcountTableClusters, REFCOUNT_TABLE.mask());
    for (long e : refcounts.table) {
      enterTable(e & MetadataView.REFCOUNT_TABLE_OFFSET_MASK, REFCOUNT_BLOCK);
    }
    if (!snapshots.isEmpty()) {
      checker.enter(header.snapshotsOffset, tables.clustersFor(snapshotTableLength), SNAPSHOT_TABLE.mask());
    }
    for (int i = 0; i < snapshots.size(); i++) {
      Snapshot s = snapshots.get(i);
      if (s.l1Size() > 0) {
        checker.enter(s.l1Offset(), tables.clustersFor(s.l1Size() * 8L), INACTIVE_L1.mask());
        // Snapshot L1 tables are read at open only when inactive L2 tables are checked.
        if ((mask & INACTIVE_L2.mask()) != 0) {
          for (long e : readSnapshotL1(i)) {
            enterTable(e & L1_OFFSET_MASK, INACTIVE_L2);
          }
        }
      }
    }
    if (header.bitmapDirectorySize > 0 && (header.autoclear & Header.AUTOCLEAR_BITMAPS) != 0) {
      checker.enter(header.bitmapDirectoryOffset, tables.clustersFor(header.bitmapDirectorySize), BITMAP_DIRECTORY.mask());
    }
    bitmaps.enterMetadata(checker);
  }

  /**
   * Enters the one-cluster table a table entry points at (nothing for 0). An unaligned table is
   * entered on both clusters it touches, as a scanning strategy (legacy) sees it, so that every
   * strategy gives the same answer on a corrupt image; the part at or beyond 2^56 is left out.
   */
  private void enterTable(long offset, MetadataType type) {
    if (offset == 0 || Long.compareUnsigned(offset, Header.MAX_HOST_OFFSET) >= 0) {
      return;
    }
    long first = offset & -(long) clusterSize;
    long clusters = Math.min(tables.aligned(offset) ? 1 : 2, (Header.MAX_HOST_OFFSET - first) >>> clusterBits);
    file.tracker.enter(first, clusters, type.mask());
  }

  private long[] readSnapshotL1(int index) throws IOException {
    Snapshot s = snapshots.get(index);
    return tables.readTable(s.l1Offset(), s.l1Size());
  }

  // ---------------------------------------------------------------------------------------------
  // MetadataView: the engine's live metadata, for strategies that scan

  @Override public long activeL1Offset() { return header.l1Offset; }
  @Override public int activeL1Size() { return tables.l1().length; }
  @Override public long activeL1Entry(int index) { return tables.l1()[index]; }
  @Override public long refcountTableOffset() { return header.refcountTableOffset; }
  // From the header, not the array: while the table grows the array is already larger, but the
  // on-disk table (and what the header says) is still the old one.
  @Override public int refcountTableSize() { return (header.refcountTableClusters << clusterBits) / 8; }
  @Override public long refcountTableEntry(int index) { return refcounts.table[index]; }
  @Override public long snapshotTableOffset() { return snapshots.isEmpty() ? 0 : header.snapshotsOffset; }
  @Override public long snapshotTableLength() { return snapshotTableLength; }
  @Override public int snapshotCount() { return snapshots.size(); }
  @Override public long snapshotL1Offset(int snapshot) { return snapshots.get(snapshot).l1Offset(); }
  @Override public int snapshotL1Size(int snapshot) { return snapshots.get(snapshot).l1Size(); }

  @Override
  public String snapshotName(int snapshot) {
    Snapshot s = snapshots.get(snapshot);
    return s.id() + " (" + s.name() + ")";
  }

  @Override
  public long[] readSnapshotL1Table(int snapshot) throws IOException {
    return readSnapshotL1(snapshot);
  }

  @Override
  public long bitmapDirectoryOffset() {
    return (header.autoclear & Header.AUTOCLEAR_BITMAPS) != 0 ? header.bitmapDirectoryOffset : 0;
  }

  @Override
  public long bitmapDirectoryLength() {
    return (header.autoclear & Header.AUTOCLEAR_BITMAPS) != 0 ? header.bitmapDirectorySize : 0;
  }

  @Override public int bitmapCount() { return bitmaps.count(); }
  @Override public long bitmapTableOffset(int bitmap) { return bitmaps.tableOffset(bitmap); }
  @Override public int bitmapTableSize(int bitmap) { return bitmaps.tableSize(bitmap); }
  @Override public long bitmapTableEntry(int bitmap, int index) { return bitmaps.tableEntry(bitmap, index); }
}
