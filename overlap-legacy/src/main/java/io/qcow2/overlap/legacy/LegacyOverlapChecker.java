package io.qcow2.overlap.legacy;

import static io.qcow2.overlap.MetadataView.BITMAP_TABLE_OFFSET_MASK;
import static io.qcow2.overlap.MetadataView.L1_OFFSET_MASK;
import static io.qcow2.overlap.MetadataView.REFCOUNT_TABLE_OFFSET_MASK;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * QEMU's original {@code qcow2_check_metadata_overlap}: every check scans the image's live metadata
 * through the {@link MetadataView}, in QEMU's order: header, active L1 table, refcount table,
 * snapshot table, inactive L1 tables, active L2 tables (every active L1 entry), refcount blocks
 * (every refcount table entry), inactive L2 tables (every snapshot's L1 table, read from the image
 * on every check), the bitmap directory (which QEMU's original check predates), and this project's
 * two types beyond QEMU's: bitmap tables (every bitmap of the view) and bitmap data clusters (every
 * entry of those tables, which the engine keeps in memory).
 *
 * <p>{@code enter} and {@code remove} are counted but change nothing: the view is the truth.
 *
 * <p><b>Differs from QEMU</b> in its answer: QEMU returned the first overlapping type it found; this
 * returns the mask of <em>all</em> overlapping enabled, non-ignored types, the answer every strategy
 * gives, so that strategies agree and callers can report every hit. The cost differs only in that
 * the scan does not stop at the first hit: every check costs the full scan, which was QEMU's worst
 * case (a write that overlaps nothing). There is no caching, no index and no early-out that QEMU
 * did not have; with {@link MetadataType#INACTIVE_L2} enabled ({@code overlap-check=all}) every
 * check reads every snapshot's L1 table.
 *
 * <p>A snapshot L1 table that cannot be read makes {@link #check} throw {@link
 * UncheckedIOException} naming the snapshot and the table's offset (QEMU returned {@code -errno});
 * it is never reported as "no overlap".
 */
final class LegacyOverlapChecker extends OverlapChecker {
  /**
   * Shallow size of this object, measured with JOL on 64-bit HotSpot with compressed references
   * (LegacyFootprintTest re-measures it): a 12-byte header, the base class's two ints and three
   * longs, this class's view reference and cluster size. The view belongs to the image, not to the
   * checker, and is not counted; a check allocates only the snapshot L1 tables it reads, which are
   * garbage when it returns.
   */
  static final long SHALLOW_BYTES = 56;

  private final MetadataView view;
  private final long clusterSize;

  LegacyOverlapChecker(OverlapCheckerSetup setup) {
    super(setup);
    this.view = setup.view();
    this.clusterSize = setup.clusterSize();
  }

  /*
   * Implementation notes. QEMU's overlaps_with(ofs, sz) tests the cluster-aligned write range
   * against the byte range [ofs, ofs + sz); since the write range is aligned, that is the same as
   * testing it against the clusters the structure touches, which is what overlaps() does, in
   * cluster numbers so that nothing overflows. Tables are entries * 8 bytes; the snapshot table
   * and bitmap directory are byte lengths (patch 12 of the 2014 series quotes the original).
   */

  @Override
  public long memoryBytes() {
    return SHALLOW_BYTES;
  }

  @Override
  protected void enterClusters(long first, long count, int types) {}

  @Override
  protected void removeClusters(long first, long count, int types) {}

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    long last = first + count - 1;
    int found = 0;
    if ((wanted & MetadataType.MAIN_HEADER.mask()) != 0 && first == 0) {
      found |= MetadataType.MAIN_HEADER.mask();
    }
    if ((wanted & MetadataType.ACTIVE_L1.mask()) != 0 && view.activeL1Size() > 0
        && overlaps(first, last, view.activeL1Offset(), 8L * view.activeL1Size())) {
      found |= MetadataType.ACTIVE_L1.mask();
    }
    if ((wanted & MetadataType.REFCOUNT_TABLE.mask()) != 0 && view.refcountTableSize() > 0
        && overlaps(first, last, view.refcountTableOffset(), 8L * view.refcountTableSize())) {
      found |= MetadataType.REFCOUNT_TABLE.mask();
    }
    if ((wanted & MetadataType.SNAPSHOT_TABLE.mask()) != 0 && view.snapshotTableLength() > 0
        && overlaps(first, last, view.snapshotTableOffset(), view.snapshotTableLength())) {
      found |= MetadataType.SNAPSHOT_TABLE.mask();
    }
    if ((wanted & MetadataType.INACTIVE_L1.mask()) != 0) {
      found |= scanInactiveL1(first, last);
    }
    if ((wanted & MetadataType.ACTIVE_L2.mask()) != 0) {
      found |= scanActiveL2(first, last);
    }
    if ((wanted & MetadataType.REFCOUNT_BLOCK.mask()) != 0) {
      found |= scanRefcountBlocks(first, last);
    }
    if ((wanted & MetadataType.INACTIVE_L2.mask()) != 0) {
      found |= scanInactiveL2(first, last);
    }
    if ((wanted & MetadataType.BITMAP_DIRECTORY.mask()) != 0 && view.bitmapDirectoryLength() > 0
        && overlaps(first, last, view.bitmapDirectoryOffset(), view.bitmapDirectoryLength())) {
      found |= MetadataType.BITMAP_DIRECTORY.mask();
    }
    if ((wanted & MetadataType.BITMAP_TABLE.mask()) != 0) {
      found |= scanBitmapTables(first, last);
    }
    if ((wanted & MetadataType.BITMAP_DATA.mask()) != 0) {
      found |= scanBitmapData(first, last);
    }
    return found;
  }

  private int scanBitmapTables(long first, long last) {
    int found = 0;
    int bitmaps = view.bitmapCount();
    for (int i = 0; i < bitmaps; i++) {
      int size = view.bitmapTableSize(i);
      if (size > 0 && overlaps(first, last, view.bitmapTableOffset(i), 8L * size)) {
        found = MetadataType.BITMAP_TABLE.mask();
      }
    }
    return found;
  }

  private int scanBitmapData(long first, long last) {
    int found = 0;
    int bitmaps = view.bitmapCount();
    for (int i = 0; i < bitmaps; i++) {
      int size = view.bitmapTableSize(i);
      for (int j = 0; j < size; j++) {
        long offset = view.bitmapTableEntry(i, j) & BITMAP_TABLE_OFFSET_MASK;
        if (offset != 0 && overlaps(first, last, offset, clusterSize)) {
          found = MetadataType.BITMAP_DATA.mask();
        }
      }
    }
    return found;
  }

  private int scanInactiveL1(long first, long last) {
    int found = 0;
    int snapshots = view.snapshotCount();
    for (int i = 0; i < snapshots; i++) {
      int size = view.snapshotL1Size(i);
      if (size > 0 && overlaps(first, last, view.snapshotL1Offset(i), 8L * size)) {
        found = MetadataType.INACTIVE_L1.mask();
      }
    }
    return found;
  }

  private int scanActiveL2(long first, long last) {
    int found = 0;
    int size = view.activeL1Size();
    for (int i = 0; i < size; i++) {
      long offset = view.activeL1Entry(i) & L1_OFFSET_MASK;
      if (offset != 0 && overlaps(first, last, offset, clusterSize)) {
        found = MetadataType.ACTIVE_L2.mask();
      }
    }
    return found;
  }

  private int scanRefcountBlocks(long first, long last) {
    int found = 0;
    int size = view.refcountTableSize();
    for (int i = 0; i < size; i++) {
      long offset = view.refcountTableEntry(i) & REFCOUNT_TABLE_OFFSET_MASK;
      if (offset != 0 && overlaps(first, last, offset, clusterSize)) {
        found = MetadataType.REFCOUNT_BLOCK.mask();
      }
    }
    return found;
  }

  private int scanInactiveL2(long first, long last) {
    int found = 0;
    int snapshots = view.snapshotCount();
    for (int i = 0; i < snapshots; i++) {
      int size = view.snapshotL1Size(i);
      long[] l1 = readSnapshotL1Table(i);
      assert l1.length == size
          : "snapshot " + i + " L1 table has " + l1.length + " entries, expected " + size;
      for (long entry : l1) {
        long offset = entry & L1_OFFSET_MASK;
        if (offset != 0 && overlaps(first, last, offset, clusterSize)) {
          found = MetadataType.INACTIVE_L2.mask();
        }
      }
    }
    return found;
  }

  private long[] readSnapshotL1Table(int snapshot) {
    long[] l1;
    try {
      l1 = view.readSnapshotL1Table(snapshot);
    } catch (IOException e) {
      throw new UncheckedIOException(String.format(
          "overlap check cannot read the L1 table of snapshot %s at offset 0x%x: %s",
          view.snapshotName(snapshot), view.snapshotL1Offset(snapshot), e.getMessage()), e);
    }
    return l1;
  }

  /**
   * Whether clusters {@code [first, last]} touch the byte range {@code [offset, offset + length)},
   * {@code length > 0}; {@code offset} is unsigned, as in QEMU (a refcount table entry keeps bits
   * 9-63).
   */
  private boolean overlaps(long first, long last, long offset, long length) {
    assert length > 0 : "range " + offset + "+" + length;
    int bits = clusterBits();
    long structureFirst = offset >>> bits;
    long structureLast = structureFirst + (((offset & (clusterSize - 1)) + length - 1) >>> bits);
    return structureFirst <= last && first <= structureLast;
  }
}
