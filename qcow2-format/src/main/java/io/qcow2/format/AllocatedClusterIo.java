package io.qcow2.format;

import static io.qcow2.format.ActiveTables.kind;
import static io.qcow2.format.TableEntry.COPIED;
import static io.qcow2.format.TableEntry.L2_OFFSET_MASK;

import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The parallel path of a {@link Qcow2Image}: guest reads, and guest writes that land in place in
 * clusters the image alone owns, run by many threads at once under the image's <em>shared</em>
 * lock ({@link ImageLocks}). Anything else (an allocation, copy on write, a
 * write to a compressed or zero cluster, an entry that fails a check, a refused overlap check) is
 * left to the exclusive path: {@link #read} and {@link #write} return {@code false} having written
 * nothing, and the caller runs the call again under the exclusive lock, where it behaves exactly
 * as a single-threaded call (and signals a corruption event, which only the exclusive lock may).
 *
 * <p>The caller holds the shared lock for the whole call, so no exclusive call (the only ones that
 * free, allocate or remap a cluster, or change what the overlap checker protects) runs meanwhile:
 * a mapping resolved here stays true until the data I/O is done.
 */
final class AllocatedClusterIo {
  /*
   * What runs where. Under the table mutex (short, one thread at a time): every lookup in the L2
   * and refcount caches (TableCache is not thread-safe: a lookup may load a table and evict a clean
   * one, whose array it reuses; ActiveTables reads through one shared buffer; Refcounts memoises
   * its last block), the inflated-cluster cache of ReadPath, and every overlap check (the checker's
   * state is not thread-safe either). Outside the mutex, still under the shared lock: the positional
   * data reads and writes, inflating, and backing reads (the backing image has its own locks).
   * Only clean tables are ever evicted (TableCache never writes), so a lookup here never writes
   * metadata. A write is resolved and checked whole before its first byte is written, as the
   * exclusive path does ("a refused request writes nothing").
   *
   * Why in-place writes need nothing else: a cluster is eligible when its L2 entry is an aligned
   * data cluster inside the file with COPIED set and refcount 1, in an L2 table with COPIED in its
   * L1 entry and refcount 1. For such a cluster WritePath queues the data and changes nothing, and
   * MetadataCommit then finds nothing dirty: no table, refcount, dirty bit (lazy refcounts) or
   * header changes. So the parallel write is the exclusive one minus the locking. Images with
   * persistent dirty bitmaps (header bitmap count != 0) take the exclusive path: a guest write there
   * also updates a bitmap.
   */
  private final Header header;
  private final HostFile file;
  private final ActiveTables tables;
  private final Refcounts refcounts;
  private final ReadPath reads;
  private final ReentrantLock tableMutex;
  private final int clusterBits;
  private final int clusterSize;
  private final int l2Bits;

  AllocatedClusterIo(Header header, HostFile file, ActiveTables tables, Refcounts refcounts,
      ReadPath reads, ReentrantLock tableMutex) {
    this.header = header;
    this.file = file;
    this.tables = tables;
    this.refcounts = refcounts;
    this.reads = reads;
    this.tableMutex = tableMutex;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.l2Bits = clusterBits - 3;
  }

  /**
   * Reads guest bytes of data, zero, unallocated and compressed clusters; the caller has checked
   * the range.
   *
   * @return false, maybe having filled part of {@code buf}, when the exclusive path must do the
   *     read: an entry that fails one of QEMU's checks (a corruption event), or compressed data
   *     that does not decompress (the exclusive path names it)
   */
  boolean read(long guestOffset, byte[] buf, int off, int len) throws IOException {
    while (len > 0) {
      long cluster = guestOffset >>> clusterBits;
      int inCluster = (int) (guestOffset & (clusterSize - 1));
      int n = (int) Math.min(len, clusterSize - inCluster);
      Extent.Kind kind;
      long entry;
      byte[] inflated = null;
      tableMutex.lock();
      try {
        entry = tables.l2Entry(cluster);
        kind = kind(entry);
        if (kind == Extent.Kind.COMPRESSED) {
          inflated = reads.cachedInflated(entry);
        } else if (!readable(entry)) {
          return false;
        }
        // The run of following clusters that read alike (data: at contiguous host offsets).
        long host = entry & L2_OFFSET_MASK;
        for (long next = cluster + 1; n < len && kind != Extent.Kind.COMPRESSED; next++) {
          long e = tables.l2Entry(next);
          if (kind(e) != kind || !readable(e)
              || (kind == Extent.Kind.DATA && (e & L2_OFFSET_MASK) != host + ((next - cluster) << clusterBits))) {
            break;
          }
          n = (int) Math.min(len, n + (long) clusterSize);
        }
      } catch (Qcow2Exception e) {
        return false; // the exclusive path signals it or refuses it with its message
      } finally {
        tableMutex.unlock();
      }
      switch (kind) {
        case DATA -> file.read((entry & L2_OFFSET_MASK) + inCluster, buf, off, n);
        case ZERO -> Arrays.fill(buf, off, off + n, (byte) 0);
        case UNALLOCATED -> reads.readBacking(guestOffset, buf, off, n);
        case COMPRESSED -> {
          if (inflated == null) {
            inflated = inflate(entry);
            if (inflated == null) {
              return false;
            }
          }
          System.arraycopy(inflated, inCluster, buf, off, n);
        }
      }
      guestOffset += n;
      off += n;
      len -= n;
    }
    return true;
  }

  /**
   * Whether the exclusive path reads this entry without a corruption event: data and zero entries
   * aligned (a zero flag only in version 3); unallocated ones always.
   */
  private boolean readable(long entry) {
    return switch (kind(entry)) {
      case DATA -> tables.aligned(entry & L2_OFFSET_MASK);
      case ZERO -> header.version >= 3 && tables.aligned(entry & L2_OFFSET_MASK);
      case UNALLOCATED -> true;
      case COMPRESSED -> false;
    };
  }

  /**
   * The cluster a compressed entry holds, inflated outside the table mutex (so threads inflate in
   * parallel) into a new array, which then becomes the read path's one-cluster cache (never
   * written after: shared read-only); null if the data does not decompress.
   */
  private byte[] inflate(long entry) throws IOException {
    long hostOffset = CompressedDescriptor.hostOffset(entry, clusterBits);
    int compressedSize = (int) CompressedDescriptor.compressedBytes(entry, clusterBits);
    byte[] in = new byte[compressedSize];
    file.read(hostOffset, in, 0, compressedSize);
    byte[] out = new byte[clusterSize];
    try {
      CompressedClusters.decompress(header.compressionType, in, compressedSize, out);
    } catch (CompressedClusters.BadDataException e) {
      return null;
    }
    tableMutex.lock();
    try {
      reads.cacheInflated(entry, out);
    } finally {
      tableMutex.unlock();
    }
    return out;
  }

  /**
   * Writes guest bytes when every cluster they touch can be written in place with no metadata
   * change (see the class notes) and the overlap checks pass; the caller has checked that the
   * image is writable and the range.
   *
   * @return false, having written nothing, when the exclusive path must do the write
   */
  boolean write(long guestOffset, byte[] buf, int off, int len) throws IOException {
    if (len == 0 || header.bitmapCount != 0) {
      return false;
    }
    // Host runs to write: (host offset, length) pairs; contiguous pieces merged.
    long[] runs = new long[8];
    int count = 0;
    tableMutex.lock();
    try {
      long end = guestOffset + len;
      int checkedL1Index = -1;
      for (long at = guestOffset; at < end; ) {
        long cluster = at >>> clusterBits;
        int l1Index = (int) (cluster >>> l2Bits);
        if (l1Index != checkedL1Index) {
          if (!ownedTable(l1Index)) {
            return false;
          }
          checkedL1Index = l1Index;
        }
        long entry = tables.l2Entry(cluster);
        long host = entry & L2_OFFSET_MASK;
        if (kind(entry) != Extent.Kind.DATA || (entry & COPIED) == 0 || !tables.aligned(host)
            || !inside(host) || refcounts.get(host >>> clusterBits) != 1) {
          return false;
        }
        int inCluster = (int) (at & (clusterSize - 1));
        long n = Math.min(end - at, clusterSize - inCluster);
        if (count > 0 && runs[2 * count - 2] + runs[2 * count - 1] == host + inCluster) {
          runs[2 * count - 1] += n;
        } else {
          if (2 * count == runs.length) {
            runs = Arrays.copyOf(runs, 2 * runs.length);
          }
          runs[2 * count] = host + inCluster;
          runs[2 * count + 1] = n;
          count++;
        }
        at += n;
      }
      for (int i = 0; i < count; i++) {
        if (file.tracker.check(runs[2 * i], runs[2 * i + 1], 0) != 0) {
          return false; // the exclusive path signals the corruption and refuses the write
        }
      }
    } catch (Qcow2Exception e) {
      return false; // e.g. an unaligned refcount block: the exclusive path signals or refuses it
    } finally {
      tableMutex.unlock();
    }
    int from = off;
    for (int i = 0; i < count; i++) {
      int n = (int) runs[2 * i + 1];
      file.writeInPlace(runs[2 * i], buf, from, n);
      from += n;
    }
    return true;
  }

  /**
   * Whether L1 entry {@code l1Index} names an aligned L2 table inside the file that this image
   * alone owns (COPIED, refcount 1).
   */
  private boolean ownedTable(int l1Index) throws IOException {
    long[] l1 = tables.l1();
    if (l1Index >= l1.length) {
      return false;
    }
    long l2Offset = tables.l2Offset(l1Index);
    return (l1[l1Index] & COPIED) != 0 && l2Offset != 0 && inside(l2Offset)
        && refcounts.get(l2Offset >>> clusterBits) == 1;
  }

  /** Whether the cluster at {@code offset} lies inside the file (the exclusive path refuses it otherwise). */
  private boolean inside(long offset) {
    try {
      file.checkInside(offset, clusterSize, "entry", 0);
      return true;
    } catch (CorruptImageException e) {
      return false;
    }
  }
}
