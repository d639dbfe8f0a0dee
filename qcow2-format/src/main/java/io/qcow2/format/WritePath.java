package io.qcow2.format;

import static com.google.common.base.Preconditions.checkArgument;
import static io.qcow2.format.TableEntry.COMPRESSED;
import static io.qcow2.format.TableEntry.COPIED;
import static io.qcow2.format.TableEntry.L2_OFFSET_MASK;
import static io.qcow2.format.TableEntry.ZERO_FLAG;

import java.io.IOException;
import java.util.Arrays;

/**
 * The write path: plans guest writes (in place where this image alone owns the cluster, else a new
 * cluster completed from the old one, the backing image or zeros), compressed writes, zero writes
 * and discards in memory, with QEMU's checks of every entry it replaces. Nothing is written here:
 * the guest data is queued and {@link MetadataCommit} writes it with the metadata once the whole
 * request is planned (see {@link Qcow2Image}'s request).
 */
final class WritePath {
  private final HostFile file;
  private final Header header;
  private final ActiveTables tables;
  private final ClusterAllocator allocator;
  private final MetadataCommit commits;
  private final ReadPath reads;
  /** Whether a backing image shows through unallocated clusters. */
  private final boolean hasBacking;
  private final int clusterBits;
  private final int clusterSize;
  private final int l2Bits;

  WritePath(HostFile file, Header header, ActiveTables tables, ClusterAllocator allocator,
      MetadataCommit commits, ReadPath reads, boolean hasBacking) {
    this.file = file;
    this.header = header;
    this.tables = tables;
    this.allocator = allocator;
    this.commits = commits;
    this.reads = reads;
    this.hasBacking = hasBacking;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.l2Bits = clusterBits - 3;
  }

  /** Plans a guest write of {@code buf[off, off + len)} at {@code guestOffset} (checked by the caller). */
  void write(long guestOffset, byte[] buf, int off, int len) throws IOException {
    long at = guestOffset;
    int from = off;
    int left = len;
    while (left > 0) {
      long cluster = at >>> clusterBits;
      int inCluster = (int) (at & (clusterSize - 1));
      int n = 0;
      if (inCluster == 0 && left >= 2 * clusterSize) {
        n = writeFullClusters(cluster, buf, from, left >>> clusterBits) << clusterBits;
      }
      if (n == 0) {
        n = Math.min(left, clusterSize - inCluster);
        writeCluster(cluster, inCluster, buf, from, n);
      }
      at += n;
      from += n;
      left -= n;
    }
  }

  /**
   * Where guest cluster {@code cluster} can be written in place, or -1 when it needs a new
   * cluster; with QEMU's checks of the entry: an unaligned COPIED data or preallocated zero
   * cluster is refused (handle_copied), and so is any unaligned one a partial write would read
   * to complete the cluster (the copy-on-write read). An unaligned cluster a whole-cluster write
   * replaces is left alone, as QEMU does (see {@link ClusterAllocator#freeEntry}).
   */
  private long inPlaceOffset(long entry, long cluster, long guestOffset, boolean partial) throws IOException {
    Extent.Kind kind = ActiveTables.kind(entry);
    long host = entry & L2_OFFSET_MASK;
    if ((kind == Extent.Kind.DATA || kind == Extent.Kind.ZERO) && !tables.aligned(host)) {
      if ((entry & COPIED) != 0) {
        throw file.corruption(String.format("%s cluster offset %s unaligned (guest offset: %s)",
            kind == Extent.Kind.ZERO ? "Preallocated zero" : "Data", ActiveTables.hex(host), ActiveTables.hex(guestOffset)));
      }
      if (partial) {
        tables.allocatedOffset(entry, cluster);
      }
      return -1;
    }
    // COPIED and the refcount must agree, as for L2 tables (ClusterAllocator#l2ForWrite).
    return kind == Extent.Kind.DATA && (entry & COPIED) != 0 && allocator.owned(host) ? host : -1;
  }

  /**
   * Writes whole clusters within one L2 table with one host write per run: a run of clusters
   * owned in place at contiguous host offsets, or a run needing new clusters, allocated
   * contiguously. Returns the clusters written (0: let {@link #writeCluster} do one).
   */
  private int writeFullClusters(long cluster, byte[] buf, int off, int maxClusters) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    int l2Index = (int) (cluster & ((1 << l2Bits) - 1));
    long l2Offset = allocator.l2ForWrite(l1Index);
    long[] l2 = tables.l2Table(l2Offset);
    int limit = Math.min(maxClusters, l2.length - l2Index);
    long guest = cluster << clusterBits;
    long host = inPlaceOffset(l2[l2Index], cluster, guest, false);
    int k = 0;
    if (host >= 0) {
      k = 1;
      while (k < limit && inPlaceOffset(l2[l2Index + k], cluster + k, guest + ((long) k << clusterBits), false)
          == host + ((long) k << clusterBits)) {
        k++;
      }
      file.checkInside(host, (long) k << clusterBits, "L2 entry of guest cluster", cluster);
      commits.queueData(host, buf, off, k << clusterBits);
      return k;
    }
    while (k < limit && inPlaceOffset(l2[l2Index + k], cluster + k, guest + ((long) k << clusterBits), false) < 0) {
      k++;
    }
    if (k < 2) {
      return 0;
    }
    long allocated = allocator.allocate(k);
    commits.queueData(allocated, buf, off, k << clusterBits);
    for (int i = 0; i < k; i++) {
      long old = l2[l2Index + i];
      tables.setL2(l2Offset, l2, l2Index + i, (allocated + ((long) i << clusterBits)) | COPIED);
      allocator.freeEntry(old);
    }
    return k;
  }

  private void writeCluster(long cluster, int inCluster, byte[] buf, int off, int n) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    int l2Index = (int) (cluster & ((1 << l2Bits) - 1));
    long l2Offset = allocator.l2ForWrite(l1Index);
    long[] l2 = tables.l2Table(l2Offset);
    long entry = l2[l2Index];
    long host = inPlaceOffset(entry, cluster, (cluster << clusterBits) + inCluster, n < clusterSize);
    if (host >= 0) {
      file.checkInside(host, inCluster + n, "L2 entry of guest cluster", cluster);
      commits.queueData(host + inCluster, buf, off, n);
      return;
    }
    byte[] data;
    int dataOff;
    if (n == clusterSize) {
      data = buf;
      dataOff = off;
    } else {
      data = new byte[clusterSize];
      dataOff = 0;
      reads.readOldCluster(cluster, entry, data);
      System.arraycopy(buf, off, data, inCluster, n);
    }
    long allocated = allocator.allocate(1);
    commits.queueData(allocated, data, dataOff, clusterSize);
    tables.setL2(l2Offset, l2, l2Index, allocated | COPIED);
    allocator.freeEntry(entry);
  }

  // ---------------------------------------------------------------------------------------------
  // Compressed writes (issue 16; the codec is CompressedClusters, the packing CompressedSpace)

  /** A compressed write covers whole clusters, the last one possibly cut by the image's end. */
  void checkCompressedRange(long guestOffset, int len) {
    checkArgument((guestOffset & (clusterSize - 1)) == 0
        && ((len & (clusterSize - 1)) == 0 || guestOffset + len == header.size),
        "Compressed writes cover whole clusters of %s bytes (or end at the image's end %s): "
            + "offset %s, length %s", clusterSize, header.size, guestOffset, len);
  }

  /**
   * Plans writing whole guest clusters compressed (see {@link Qcow2Image#writeCompressed}); the
   * range was checked by {@link #checkCompressedRange}.
   */
  void writeCompressed(long guestOffset, byte[] buf, int off, int len) throws IOException {
    CompressedSpace space = allocator.compressedSpace();
    byte[] cluster = new byte[clusterSize];
    byte[] packed = new byte[clusterSize];
    for (int done = 0; done < len; done += clusterSize) {
      long guestCluster = (guestOffset + done) >>> clusterBits;
      int n = Math.min(clusterSize, len - done);
      int l1Index = (int) (guestCluster >>> l2Bits);
      int l2Index = (int) (guestCluster & ((1 << l2Bits) - 1));
      long l2Offset = allocator.l2ForWrite(l1Index);
      long[] l2 = tables.l2Table(l2Offset);
      if ((l2[l2Index] & L2_OFFSET_MASK) != 0) {
        throw new Qcow2Exception(String.format("Compressed write to guest offset %s refused: "
            + "the cluster is allocated (compressed writes go to unallocated clusters only, "
            + "as in QEMU)", ActiveTables.hex(guestOffset + done)));
      }
      System.arraycopy(buf, off + done, cluster, 0, n);
      Arrays.fill(cluster, n, clusterSize, (byte) 0);
      int size = CompressedClusters.compress(header.compressionType, cluster, 0, clusterSize,
          packed, clusterSize);
      if (size < 0) {
        writeCluster(guestCluster, 0, buf, off + done, n);
        continue;
      }
      long host = space.allocate(size);
      commits.queueData(host, Arrays.copyOf(packed, size), 0, size);
      tables.setL2(l2Offset, l2, l2Index, COMPRESSED | CompressedDescriptor.encode(host, size, clusterBits));
      // A freed compressed cluster's entry can come back with new bytes: not the inflated one.
      reads.forgetInflated(l2[l2Index]);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Zero writes and discards

  /**
   * Plans making {@code [offset, offset + length)} read as zeros: whole clusters get the zero flag
   * (version 3) or are deallocated (version 2 without a backing file); partial clusters and
   * version 2 images with a backing file get zero data written.
   */
  void writeZeroes(long offset, long length) throws IOException {
    long end = offset + length;
    for (long at = offset; at < end; ) {
      long cluster = at >>> clusterBits;
      int inCluster = (int) (at & (clusterSize - 1));
      long clusterEnd = Math.min((cluster + 1) << clusterBits, header.size);
      int n = (int) Math.min(end - at, clusterEnd - at);
      boolean whole = inCluster == 0 && at + n == clusterEnd;
      if (whole && (header.version >= 3 || !hasBacking)) {
        long entry = header.version >= 3 ? ZERO_FLAG : 0;
        replaceEntry(cluster, entry);
      } else {
        writeCluster(cluster, inCluster, new byte[n], 0, n);
      }
      at += n;
    }
  }

  /** Plans discarding the whole clusters of {@code [offset, offset + length)}. */
  void discard(long offset, long length) throws IOException {
    long end = offset + length;
    long first = (offset + clusterSize - 1) >>> clusterBits;
    long last = end == header.size ? (end + clusterSize - 1) >>> clusterBits : end >>> clusterBits;
    for (long c = first; c < last; c++) {
      // As QEMU's discard_in_l2_slice: v3 keeps the cluster reading as zeros with the zero flag
      // where it was allocated or a backing file would show through; otherwise unallocated.
      long old = tables.l2Entry(c);
      boolean allocated = ActiveTables.kind(old) == Extent.Kind.COMPRESSED || (old & L2_OFFSET_MASK) != 0;
      replaceEntry(c, header.version >= 3 && (hasBacking || allocated) ? ZERO_FLAG : 0);
    }
  }

  /** Sets a whole cluster's L2 entry to a pointer-free {@code entry} (0 or the zero flag). */
  void replaceEntry(long cluster, long entry) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    int l2Index = (int) (cluster & ((1 << l2Bits) - 1));
    long old = tables.l2Entry(cluster);
    if (old == entry) {
      return;
    }
    if (entry == ZERO_FLAG && old == 0 && !hasBacking) {
      return;
    }
    if (entry == 0 && tables.l2Offset(l1Index) == 0) {
      return;
    }
    long l2Offset = allocator.l2ForWrite(l1Index);
    long[] l2 = tables.l2Table(l2Offset);
    old = l2[l2Index];
    tables.setL2(l2Offset, l2, l2Index, entry);
    allocator.freeEntry(old);
  }
}
