package io.qcow2.overlap;

import java.io.IOException;

/**
 * A read-only view of an image's live metadata, as QEMU's {@code BDRVQcow2State} holds it: what a
 * strategy needs to find every metadata structure by scanning, the way QEMU's original check did.
 *
 * <p>The main header is always cluster 0 and has no accessor. Table entries are returned raw, as
 * stored in the image (host byte order); mask them with {@link #L1_OFFSET_MASK} or {@link
 * #REFCOUNT_TABLE_OFFSET_MASK}. Sizes are entry counts; offsets are bytes. A view reflects the
 * image's current state on every call; it is not a snapshot.
 */
public interface MetadataView {
  /** Bits 9-55 of an L1 entry: the L2 table's host offset ({@code L1E_OFFSET_MASK}). */
  long L1_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** Bits 9-63 of a refcount table entry: the refcount block's offset ({@code REFT_OFFSET_MASK}). */
  long REFCOUNT_TABLE_OFFSET_MASK = 0xffff_ffff_ffff_fe00L;

  long activeL1Offset();

  /** Number of entries in the active L1 table. */
  int activeL1Size();

  long activeL1Entry(int index);

  long refcountTableOffset();

  /** Number of entries in the refcount table. */
  int refcountTableSize();

  long refcountTableEntry(int index);

  long snapshotTableOffset();

  /** Length of the snapshot table in bytes; 0 when the image has no snapshots. */
  long snapshotTableLength();

  int snapshotCount();

  long snapshotL1Offset(int snapshot);

  /** Number of entries in the snapshot's L1 table. */
  int snapshotL1Size(int snapshot);

  /** A name that identifies the snapshot in messages, e.g. its id and name. */
  String snapshotName(int snapshot);

  /**
   * Reads the snapshot's L1 table from the image file, now; no caching.
   *
   * @throws IOException if the table cannot be read
   */
  long[] readSnapshotL1Table(int snapshot) throws IOException;

  long bitmapDirectoryOffset();

  /** Length of the bitmap directory in bytes; 0 when the image has none (or its bitmaps are stale). */
  long bitmapDirectoryLength();

  /** Bits 9-55 of a bitmap table entry: the data cluster's offset ({@code BME_TABLE_ENTRY_OFFSET_MASK}). */
  long BITMAP_TABLE_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

  /**
   * Number of persistent dirty bitmaps whose tables the image holds ({@link
   * MetadataType#BITMAP_TABLE}); 0 when it has none or its bitmaps are stale. Default: 0, for views
   * of images without bitmaps.
   */
  default int bitmapCount() {
    return 0;
  }

  /** Offset of bitmap {@code bitmap}'s table, in directory order. */
  default long bitmapTableOffset(int bitmap) {
    throw new IndexOutOfBoundsException(bitmap);
  }

  /** Number of entries in bitmap {@code bitmap}'s table. */
  default int bitmapTableSize(int bitmap) {
    throw new IndexOutOfBoundsException(bitmap);
  }

  /**
   * Entry {@code index} of bitmap {@code bitmap}'s table, raw: mask it with {@link
   * #BITMAP_TABLE_OFFSET_MASK} for a data cluster ({@link MetadataType#BITMAP_DATA}); 0 there means
   * the cluster is not stored (all zeros, or all ones with bit 0 set).
   */
  default long bitmapTableEntry(int bitmap, int index) {
    throw new IndexOutOfBoundsException(bitmap);
  }

  /** A view of an image with no metadata besides the header. */
  MetadataView EMPTY = new MetadataView() {
    @Override public long activeL1Offset() { return 0; }
    @Override public int activeL1Size() { return 0; }
    @Override public long activeL1Entry(int index) { throw new IndexOutOfBoundsException(index); }
    @Override public long refcountTableOffset() { return 0; }
    @Override public int refcountTableSize() { return 0; }
    @Override public long refcountTableEntry(int index) { throw new IndexOutOfBoundsException(index); }
    @Override public long snapshotTableOffset() { return 0; }
    @Override public long snapshotTableLength() { return 0; }
    @Override public int snapshotCount() { return 0; }
    @Override public long snapshotL1Offset(int snapshot) { throw new IndexOutOfBoundsException(snapshot); }
    @Override public int snapshotL1Size(int snapshot) { throw new IndexOutOfBoundsException(snapshot); }
    @Override public String snapshotName(int snapshot) { throw new IndexOutOfBoundsException(snapshot); }
    @Override public long[] readSnapshotL1Table(int snapshot) { throw new IndexOutOfBoundsException(snapshot); }
    @Override public long bitmapDirectoryOffset() { return 0; }
    @Override public long bitmapDirectoryLength() { return 0; }
  };
}
