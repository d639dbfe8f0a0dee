package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataView;
import java.io.IOException;
import java.util.Objects;

/**
 * A {@link MetadataView} that forwards to another and counts what a scanning strategy visits:
 * table entries read (active L1, refcount table, bitmap tables), snapshot L1 tables read from the
 * image, and snapshot L1 entries in them.
 */
public final class CountingMetadataView implements MetadataView {
  private final MetadataView delegate;
  private long activeL1EntryReads;
  private long refcountTableEntryReads;
  private long snapshotL1TableReads;
  private long snapshotL1EntriesRead;
  private long bitmapTableEntryReads;

  public CountingMetadataView(MetadataView delegate) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
  }

  /** Calls of {@link #activeL1Entry}. */
  public long activeL1EntryReads() {
    return activeL1EntryReads;
  }

  /** Calls of {@link #refcountTableEntry}. */
  public long refcountTableEntryReads() {
    return refcountTableEntryReads;
  }

  /** Calls of {@link #readSnapshotL1Table} (including failed ones). */
  public long snapshotL1TableReads() {
    return snapshotL1TableReads;
  }

  /** Entries in the snapshot L1 tables returned by {@link #readSnapshotL1Table}. */
  public long snapshotL1EntriesRead() {
    return snapshotL1EntriesRead;
  }

  /** Calls of {@link #bitmapTableEntry}. */
  public long bitmapTableEntryReads() {
    return bitmapTableEntryReads;
  }

  /** All entries visited: active L1, refcount table, snapshot L1 and bitmap table entries. */
  public long entriesVisited() {
    return activeL1EntryReads + refcountTableEntryReads + snapshotL1EntriesRead + bitmapTableEntryReads;
  }

  /** Sets every counter to zero. */
  public void reset() {
    activeL1EntryReads = 0;
    refcountTableEntryReads = 0;
    snapshotL1TableReads = 0;
    snapshotL1EntriesRead = 0;
    bitmapTableEntryReads = 0;
  }

  @Override
  public long activeL1Offset() {
    return delegate.activeL1Offset();
  }

  @Override
  public int activeL1Size() {
    return delegate.activeL1Size();
  }

  @Override
  public long activeL1Entry(int index) {
    activeL1EntryReads++;
    return delegate.activeL1Entry(index);
  }

  @Override
  public long refcountTableOffset() {
    return delegate.refcountTableOffset();
  }

  @Override
  public int refcountTableSize() {
    return delegate.refcountTableSize();
  }

  @Override
  public long refcountTableEntry(int index) {
    refcountTableEntryReads++;
    return delegate.refcountTableEntry(index);
  }

  @Override
  public long snapshotTableOffset() {
    return delegate.snapshotTableOffset();
  }

  @Override
  public long snapshotTableLength() {
    return delegate.snapshotTableLength();
  }

  @Override
  public int snapshotCount() {
    return delegate.snapshotCount();
  }

  @Override
  public long snapshotL1Offset(int snapshot) {
    return delegate.snapshotL1Offset(snapshot);
  }

  @Override
  public int snapshotL1Size(int snapshot) {
    return delegate.snapshotL1Size(snapshot);
  }

  @Override
  public String snapshotName(int snapshot) {
    return delegate.snapshotName(snapshot);
  }

  @Override
  public long[] readSnapshotL1Table(int snapshot) throws IOException {
    snapshotL1TableReads++;
    long[] table = delegate.readSnapshotL1Table(snapshot);
    snapshotL1EntriesRead += table.length;
    return table;
  }

  @Override
  public long bitmapDirectoryOffset() {
    return delegate.bitmapDirectoryOffset();
  }

  @Override
  public long bitmapDirectoryLength() {
    return delegate.bitmapDirectoryLength();
  }

  @Override
  public int bitmapCount() {
    return delegate.bitmapCount();
  }

  @Override
  public long bitmapTableOffset(int bitmap) {
    return delegate.bitmapTableOffset(bitmap);
  }

  @Override
  public int bitmapTableSize(int bitmap) {
    return delegate.bitmapTableSize(bitmap);
  }

  @Override
  public long bitmapTableEntry(int bitmap, int index) {
    bitmapTableEntryReads++;
    return delegate.bitmapTableEntry(bitmap, index);
  }
}
