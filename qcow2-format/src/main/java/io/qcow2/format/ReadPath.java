package io.qcow2.format;

import static io.qcow2.format.ActiveTables.kind;
import static io.qcow2.format.TableEntry.L2_OFFSET_MASK;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The read path: guest reads (data, zero, compressed and unallocated clusters, the last through
 * the backing image) and the guest-to-host map, with the checks QEMU makes on every pointer it
 * follows ({@link ActiveTables}).
 */
final class ReadPath {
  private final Path path;
  private final HostFile file;
  private final Header header;
  private final ActiveTables tables;
  /** The backing image, or null. */
  private final GuestImage backing;
  /** Opened without its backing chain: reads that need it fail. */
  private final boolean backingSkipped;
  private final int clusterBits;
  private final int clusterSize;
  private final int l2Bits;
  /**
   * The last inflated cluster and its L2 entry; {@code cachedCompressed == null} means none. A new
   * array per inflate, never written once cached: parallel readers copy from it.
   */
  private long cachedCompressedEntry;
  private byte[] cachedCompressed;

  ReadPath(Path path, HostFile file, Header header, ActiveTables tables, GuestImage backing,
      boolean backingSkipped) {
    this.path = path;
    this.file = file;
    this.header = header;
    this.tables = tables;
    this.backing = backing;
    this.backingSkipped = backingSkipped;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.l2Bits = clusterBits - 3;
  }

  /** Reads guest bytes; the caller has checked the range. */
  void read(long guestOffset, byte[] buf, int off, int len) throws IOException {
    while (len > 0) {
      long cluster = guestOffset >>> clusterBits;
      int inCluster = (int) (guestOffset & (clusterSize - 1));
      int n = (int) Math.min(len, clusterSize - inCluster);
      long entry = tables.l2Entry(cluster);
      switch (kind(entry)) {
        case DATA: {
          long host = tables.allocatedOffset(entry, cluster);
          // Extend over following clusters that are contiguous on the host: one read.
          long next = cluster + 1;
          while (n < len) {
            long e = tables.l2Entry(next);
            if (kind(e) != Extent.Kind.DATA || tables.allocatedOffset(e, next) != host + ((next - cluster) << clusterBits)) {
              break;
            }
            n = (int) Math.min(len, n + (long) clusterSize);
            next++;
          }
          file.read(host + inCluster, buf, off, n);
          break;
        }
        case ZERO:
          tables.zeroEntryOffset(entry, cluster);
          Arrays.fill(buf, off, off + n, (byte) 0);
          break;
        case UNALLOCATED:
          readBacking(guestOffset, buf, off, n);
          break;
        case COMPRESSED: {
          byte[] data = decompress(entry, cluster);
          System.arraycopy(data, inCluster, buf, off, n);
          break;
        }
        default:
          throw new AssertionError();
      }
      guestOffset += n;
      off += n;
      len -= n;
    }
  }

  /** Reads from the backing image, zeros past its end or without one. */
  void readBacking(long guestOffset, byte[] buf, int off, int len) throws IOException {
    checkBackingOpened();
    long inBacking = backing == null ? 0 : Math.max(0, Math.min(len, backing.virtualSize() - guestOffset));
    if (inBacking > 0) {
      backing.read(guestOffset, buf, off, (int) inBacking);
    }
    Arrays.fill(buf, off + (int) inBacking, off + len, (byte) 0);
  }

  /** The current guest content of a cluster, for completing a partial write. */
  void readOldCluster(long cluster, long entry, byte[] data) throws IOException {
    long guest = cluster << clusterBits;
    int valid = (int) Math.min(clusterSize, header.size - guest);
    switch (kind(entry)) {
      case DATA:
        file.read(tables.allocatedOffset(entry, cluster), data, 0, valid);
        break;
      case COMPRESSED:
        System.arraycopy(decompress(entry, cluster), 0, data, 0, valid);
        break;
      case ZERO:
        tables.zeroEntryOffset(entry, cluster);
        break;
      default:
        readBacking(guest, data, 0, valid);
    }
  }

  /** Decompresses a compressed cluster with the image's compression type (CompressedClusters). */
  private byte[] decompress(long entry, long cluster) throws IOException {
    if (cachedCompressed != null && entry == cachedCompressedEntry) {
      return cachedCompressed;
    }
    long hostOffset = CompressedDescriptor.hostOffset(entry, clusterBits);
    int compressedSize = (int) CompressedDescriptor.compressedBytes(entry, clusterBits);
    byte[] in = new byte[compressedSize];
    file.read(hostOffset, in, 0, compressedSize);
    byte[] out = new byte[clusterSize];
    try {
      CompressedClusters.decompress(header.compressionType, in, compressedSize, out);
    } catch (CompressedClusters.BadDataException e) {
      throw new CorruptImageException(String.format(
          "Compressed cluster for guest cluster %d at host offset 0x%x (%d bytes, %s): %s",
          cluster, hostOffset, compressedSize, CompressedClusters.name(header.compressionType), e.getMessage()));
    }
    cacheInflated(entry, out);
    return out;
  }

  /**
   * The inflated cluster of compressed entry {@code entry} if it is the one cached, else null;
   * under the exclusive lock or the table mutex ({@link AllocatedClusterIo}). The array is never
   * written after it is cached (each inflate fills a new one), so callers copy from it outside
   * the mutex.
   */
  byte[] cachedInflated(long entry) {
    return cachedCompressed != null && entry == cachedCompressedEntry ? cachedCompressed : null;
  }

  /** Caches {@code inflated}, never written again, as {@code entry}'s cluster; as {@link #cachedInflated}. */
  void cacheInflated(long entry, byte[] inflated) {
    cachedCompressedEntry = entry;
    cachedCompressed = inflated;
  }

  /** Forgets the inflated cluster if it is {@code entry}'s (whose clusters are being freed). */
  void forgetInflated(long entry) {
    if (entry == cachedCompressedEntry) {
      cachedCompressed = null;
    }
  }

  /** Forgets the inflated cluster (the tables were reloaded or changed on the file). */
  void forgetInflated() {
    cachedCompressed = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Map

  /**
   * The guest-to-host map of the whole image, adjacent runs of the same kind and source with
   * contiguous host offsets merged, as {@code qemu-img map} does.
   */
  List<Extent> map() throws IOException {
    List<Extent> extents = new ArrayList<>();
    long offset = 0;
    while (offset < header.size) {
      Extent next = extentAt(offset, header.size - offset);
      Extent last = extents.isEmpty() ? null : extents.get(extents.size() - 1);
      if (last != null && last.kind() == next.kind() && last.fromBacking() == next.fromBacking()
          && next.kind() != Extent.Kind.COMPRESSED
          && (last.hostOffset() < 0 ? next.hostOffset() < 0 : last.hostOffset() + last.length() == next.hostOffset())) {
        extents.set(extents.size() - 1,
            new Extent(last.guestOffset(), last.length() + next.length(), last.kind(), last.hostOffset(), last.fromBacking()));
      } else {
        extents.add(next);
      }
      offset = next.end();
    }
    return extents;
  }

  /** What {@code guestOffset} maps to, over at most {@code maxLength} bytes read alike. */
  Extent extentAt(long guestOffset, long maxLength) throws IOException {
    long cluster = guestOffset >>> clusterBits;
    int inCluster = (int) (guestOffset & (clusterSize - 1));
    long length = Math.min(maxLength, clusterSize - inCluster);
    int l1Index = (int) (cluster >>> l2Bits);
    if (l1Index >= tables.l1().length || tables.l2Offset(l1Index) == 0) {
      // No L2 table: the whole range it would map is unallocated here.
      long rangeEnd = (long) (l1Index + 1) << (l2Bits + clusterBits);
      length = Math.min(maxLength, rangeEnd - guestOffset);
    }
    long entry = tables.l2Entry(cluster);
    Extent.Kind kind = kind(entry);
    if (kind != Extent.Kind.COMPRESSED && length < maxLength && l1Index < tables.l1().length && tables.l2Offset(l1Index) != 0) {
      length = runLength(cluster, entry, inCluster, maxLength);
    }
    switch (kind) {
      case DATA:
        return new Extent(guestOffset, length, kind, tables.allocatedOffset(entry, cluster) + inCluster, false);
      case COMPRESSED:
        return new Extent(guestOffset, length, kind, CompressedDescriptor.hostOffset(entry, clusterBits), false);
      case ZERO:
        tables.zeroEntryOffset(entry, cluster);
        return new Extent(guestOffset, length, kind, -1, false);
      default:
        checkBackingOpened();
        if (backing != null && guestOffset < backing.virtualSize()) {
          Extent b = backing.extentAt(guestOffset, Math.min(length, backing.virtualSize() - guestOffset));
          return new Extent(guestOffset, b.length(), b.kind(), b.hostOffset(), true);
        }
        return new Extent(guestOffset, length, Extent.Kind.UNALLOCATED, -1, false);
    }
  }

  /**
   * Bytes from {@code inCluster} of guest cluster {@code cluster} (whose entry is {@code entry},
   * not compressed) to the end of the run of entries in the same L2 table that read alike: data
   * at contiguous host offsets, zero, or unallocated; at most {@code maxLength}. One extent per run
   * keeps {@code map} of a large image to a few objects per run instead of per cluster. Entries
   * after the first are compared, not followed, so a corrupt one ends the run and is reported
   * (with its corruption event) only when asked for itself.
   */
  private long runLength(long cluster, long entry, int inCluster, long maxLength) throws IOException {
    long[] l2 = tables.l2Table(tables.l2Offset((int) (cluster >>> l2Bits)));
    Extent.Kind kind = kind(entry);
    long host = entry & L2_OFFSET_MASK;
    long length = clusterSize - inCluster;
    for (int i = (int) (cluster & ((1 << l2Bits) - 1)) + 1; i < l2.length && length < maxLength; i++) {
      long e = l2[i];
      if (kind(e) != kind) {
        break;
      }
      if (kind == Extent.Kind.DATA) {
        host += clusterSize;
        if ((e & L2_OFFSET_MASK) != host) {
          break;
        }
      } else if (kind == Extent.Kind.ZERO && (header.version < 3 || !tables.aligned(e & L2_OFFSET_MASK))) {
        break;
      }
      length += clusterSize;
    }
    return Math.min(length, maxLength);
  }

  private void checkBackingOpened() throws Qcow2Exception {
    if (backingSkipped) {
      throw new Qcow2Exception(String.format("%s was opened without its backing file '%s': "
          + "unallocated clusters cannot be read", path, ImageOpener.printable(header.backingFile)));
    }
  }
}
