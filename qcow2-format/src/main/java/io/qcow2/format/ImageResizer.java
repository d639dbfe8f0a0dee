package io.qcow2.format;

import static com.google.common.base.Preconditions.checkArgument;
import static io.qcow2.format.TableEntry.COPIED;

import java.io.IOException;

/**
 * Changes of the virtual size, as QEMU's qcow2_co_truncate: growing (the L1 table moves to new
 * clusters when it outgrows its own), shrinking (clusters past the new end released, L2 tables
 * mapping only past it dropped, the file truncated), and the metadata preallocation of create.
 */
final class ImageResizer {
  private final HostFile file;
  private final Header header;
  private final ActiveTables tables;
  private final Refcounts refcounts;
  private final ClusterAllocator allocator;
  private final MetadataCommit commits;
  private final ReadPath reads;
  private final WritePath writes;
  private final int clusterBits;
  private final int clusterSize;
  private final int l2Bits;

  ImageResizer(HostFile file, Header header, ActiveTables tables, Refcounts refcounts,
      ClusterAllocator allocator, MetadataCommit commits, ReadPath reads, WritePath writes) {
    this.file = file;
    this.header = header;
    this.tables = tables;
    this.refcounts = refcounts;
    this.allocator = allocator;
    this.commits = commits;
    this.reads = reads;
    this.writes = writes;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.l2Bits = clusterBits - 3;
  }

  /** Grows the virtual size to {@code newSize} (see {@link Qcow2Image#resize}). */
  void grow(long newSize) throws IOException {
    checkArgument(newSize >= header.size,
        "Shrinking is not supported: new size %s is below the current size %s", newSize, header.size);
    long needed = Header.l1EntriesFor(newSize, clusterBits);
    checkArgument(needed <= Header.MAX_L1_BYTES / 8,
        "Size %s needs %s L1 entries, more than the maximum %s", newSize, needed, Header.MAX_L1_BYTES / 8);
    if (needed > tables.l1().length) {
      allocator.growL1(Math.toIntExact(needed));
    }
    header.size = newSize;
    commits.writeHeader();
    commits.commit();
  }

  // ---------------------------------------------------------------------------------------------
  // Shrinking (issue 16)

  /** Checks a shrink's new size (see {@link Qcow2Image#shrink}). */
  void checkShrink(long newSize) {
    checkArgument(newSize >= 0 && newSize <= header.size,
        "Cannot shrink to %s: the virtual size is %s", newSize, header.size);
    checkArgument(newSize % 512 == 0, "The new size must be a multiple of 512");
  }

  /**
   * Plans a shrink to {@code newSize} (a request): empty L2 entries from the first whole cluster
   * past the new end, and the L2 tables that map only past it leave the L1 table.
   */
  void planShrink(long newSize) throws IOException {
    long firstDropped = (newSize + clusterSize - 1) >>> clusterBits;
    long oldClusters = (header.size + clusterSize - 1) >>> clusterBits;
    int keptL1 = Math.toIntExact(Header.l1EntriesFor(newSize, clusterBits));
    for (long c = firstDropped; c < oldClusters && (c >>> l2Bits) < keptL1; c++) {
      writes.replaceEntry(c, 0);
    }
    for (int i = keptL1; i < tables.l1().length; i++) {
      allocator.dropL2Table(i);
    }
  }

  /** After the planned shrink: the new size in the header, the file cut after its last cluster. */
  void finishShrink(long newSize) throws IOException {
    header.size = newSize;
    commits.writeHeader();
    commits.commit();
    long end = refcounts.end() << clusterBits;
    if (end < file.size()) {
      file.setLength(end);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Preallocation

  /**
   * Allocates a data cluster for every guest cluster that has none (QEMU's metadata
   * preallocation); with {@code zeroFill} writes zeros into them. Used by create.
   */
  void preallocate(boolean zeroFill) throws IOException {
    long clusters = (header.size + clusterSize - 1) >>> clusterBits;
    for (long c = 0; c < clusters; c++) {
      if (tables.isCacheFullOfDirty() || refcounts.isCacheFullOfDirty()) {
        commits.writeBack();
      }
      int l1Index = (int) (c >>> l2Bits);
      int l2Index = (int) (c & ((1 << l2Bits) - 1));
      long l2Offset = allocator.l2ForWrite(l1Index);
      long[] l2 = tables.l2Table(l2Offset);
      if (ActiveTables.kind(l2[l2Index]) == Extent.Kind.UNALLOCATED) {
        tables.setL2(l2Offset, l2, l2Index, allocator.allocate(1) | COPIED);
      }
    }
    if (zeroFill) {
      byte[] zeros = new byte[Math.max(clusterSize, 1 << 20)];
      for (Extent e : reads.map()) {
        for (long done = 0; e.kind() == Extent.Kind.DATA && done < e.length(); ) {
          int n = (int) Math.min(zeros.length, e.length() - done);
          file.write(e.hostOffset() + done, zeros, 0, n, 0);
          done += n;
        }
      }
    }
    commits.commit();
    long end = refcounts.end() << clusterBits;
    if (file.size() < end) {
      file.setLength(end);
    }
  }
}
