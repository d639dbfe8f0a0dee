package io.qcow2.format;

import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;

import com.google.common.collect.HashMultiset;
import com.google.common.collect.Multiset;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;

/**
 * The active L1 table (in memory whole) and the L2 tables it points at (through a bounded
 * {@link TableCache}): looking up a guest cluster's L2 entry with QEMU's checks of the pointers
 * followed, changing entries, and writing the dirty ones back (L2 tables, then the L1 range).
 */
final class ActiveTables {
  /** Contiguous dirty L2 tables are written together up to this many bytes. */
  private static final int L2_WRITE_BYTES = 128 << 10;

  private final HostFile file;
  private final Header header;
  private final int clusterBits;
  private final int clusterSize;
  private final int l2Bits;
  private long[] l1;
  /**
   * The L2 tables that more than one active L1 entry points at, counted: only a hostile image has
   * any, and such a table must stay protected while any entry still points at it.
   */
  private final Multiset<Long> sharedL2 = HashMultiset.create();
  /** The bytes of the L1 range being written (reused). */
  private byte[] l1WriteBuffer = new byte[0];
  private LongBuffer l1WriteLongs = LongBuffer.allocate(0);
  private int l1DirtyFrom = Integer.MAX_VALUE;
  private int l1DirtyTo = -1;
  /** L2 tables by host offset; sized by {@code l2-cache-size} / {@code cache-size}. */
  private final TableCache<long[]> l2Cache;
  /** The bytes of the L2 table being read into the cache (one buffer, reused), and its view. */
  private final byte[] l2Buffer;
  private final LongBuffer l2BufferLongs;
  /** The bytes of the L2 tables being written back (reused, grows to {@link #L2_WRITE_BYTES}). */
  private byte[] l2WriteBuffer = new byte[0];
  private LongBuffer l2WriteLongs = LongBuffer.allocate(0);

  ActiveTables(HostFile file, Header header, int cachedL2Tables) throws IOException {
    this.file = file;
    this.header = header;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.l2Bits = clusterBits - 3;
    this.l1 = readL1();
    countSharedL2();
    this.l2Cache = new TableCache<>(cachedL2Tables, () -> new long[1 << l2Bits]);
    this.l2Buffer = new byte[clusterSize];
    this.l2BufferLongs = ByteBuffer.wrap(l2Buffer).asLongBuffer();
  }

  private long[] readL1() throws IOException {
    byte[] raw = new byte[header.l1Size * 8];
    file.read(header.l1Offset, raw, 0, raw.length);
    long[] table = new long[header.l1Size];
    ByteBuffer.wrap(raw).asLongBuffer().get(table);
    return table;
  }

  /** Forgets what never reached the disk: empty cache, the L1 table the header names reread. */
  void reload() throws IOException {
    l2Cache.clear();
    l1DirtyFrom = Integer.MAX_VALUE;
    l1DirtyTo = -1;
    l1 = readL1();
    countSharedL2();
  }

  // ---------------------------------------------------------------------------------------------
  // The L1 table

  /** The live active L1 table (not a copy). */
  long[] l1() {
    return l1;
  }

  /** Replaces the in-memory active L1 table; the caller has written it (and the header) already. */
  void replaceL1(long[] table) {
    l1 = table;
    countSharedL2();
  }

  private void countSharedL2() {
    sharedL2.clear();
    // Tables allocated in guest order (preallocation, sequential writes) leave the offsets
    // increasing: no duplicate, and no copy to sort (33 M entries at 1 TiB with 512 B clusters).
    long previous = 0;
    boolean increasing = true;
    for (int i = 0; i < l1.length && increasing; i++) {
      long offset = l1[i] & TableEntry.L1_OFFSET_MASK;
      if (offset != 0) {
        increasing = offset > previous;
        previous = offset;
      }
    }
    if (increasing) {
      return;
    }
    long[] offsets = new long[l1.length];
    int n = 0;
    for (long e : l1) {
      long offset = e & TableEntry.L1_OFFSET_MASK;
      if (offset != 0) {
        offsets[n++] = offset;
      }
    }
    Arrays.sort(offsets, 0, n);
    for (int i = 1; i < n; i++) {
      if (offsets[i] == offsets[i - 1]) {
        sharedL2.add(offsets[i], sharedL2.contains(offsets[i]) ? 1 : 2);
      }
    }
  }

  /**
   * Drops one active L1 entry's reference to the L2 table at {@code l2Offset} (the caller is about
   * to point the entry elsewhere); whether no other entry points at the table.
   */
  boolean releaseL2Reference(long l2Offset) {
    int count = sharedL2.count(l2Offset);
    if (count == 0) {
      return true;
    }
    sharedL2.setCount(l2Offset, count == 2 ? 0 : count - 1);
    return false;
  }

  void setL1(int index, long entry) {
    l1[index] = entry;
    l1DirtyFrom = Math.min(l1DirtyFrom, index);
    l1DirtyTo = Math.max(l1DirtyTo, index);
  }

  /** Whether an L2 table or L1 entry waits to be written. */
  boolean hasDirty() {
    return l2Cache.dirtyCount() > 0 || l1DirtyTo >= 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Lookups, with the checks QEMU makes on the pointers it follows

  /** The kind of an L2 entry (QEMU's qcow2_get_cluster_type). */
  static Extent.Kind kind(long entry) {
    if ((entry & TableEntry.COMPRESSED) != 0) {
      return Extent.Kind.COMPRESSED;
    }
    if ((entry & TableEntry.ZERO_FLAG) != 0) {
      return Extent.Kind.ZERO;
    }
    return (entry & TableEntry.L2_OFFSET_MASK) == 0 ? Extent.Kind.UNALLOCATED : Extent.Kind.DATA;
  }

  /**
   * The host offset of a data or zero entry of guest cluster {@code cluster} (0 for a zero entry
   * without one), after the check QEMU makes on every read of it (qcow2_get_host_offset).
   *
   * @throws CorruptionEvent if the offset is not cluster-aligned
   */
  long allocatedOffset(long entry, long cluster) throws IOException {
    long host = entry & TableEntry.L2_OFFSET_MASK;
    if (!aligned(host)) {
      throw file.corruption(String.format(
          "Cluster allocation offset %s unaligned (L2 offset: %s, L2 index: %s)", hex(host),
          hex(l1[(int) (cluster >>> l2Bits)] & TableEntry.L1_OFFSET_MASK), hex(cluster & ((1 << l2Bits) - 1))));
    }
    return host;
  }

  /**
   * The checks QEMU makes when it reads a zero entry: version 2 has no zero flag, and a
   * preallocated zero cluster's offset must be aligned.
   */
  void zeroEntryOffset(long entry, long cluster) throws IOException {
    if (header.version < 3) {
      throw file.corruption(String.format("Zero cluster entry found in pre-v3 image (L2 offset: %s, L2 index: %s)",
          hex(l1[(int) (cluster >>> l2Bits)] & TableEntry.L1_OFFSET_MASK), hex(cluster & ((1 << l2Bits) - 1))));
    }
    allocatedOffset(entry, cluster);
  }

  static String hex(long value) {
    return MetadataCorruptionException.hex(value);
  }

  /** The L2 entry of guest cluster {@code cluster}; 0 where no L2 table exists. */
  long l2Entry(long cluster) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    if (l1Index >= l1.length) {
      return 0;
    }
    long l2Offset = l2Offset(l1Index);
    if (l2Offset == 0) {
      return 0;
    }
    return l2Table(l2Offset)[(int) (cluster & ((1 << l2Bits) - 1))];
  }

  /**
   * The L2 table offset of L1 entry {@code l1Index} (0: none).
   *
   * @throws CorruptionEvent if it is not cluster-aligned (QEMU's check)
   */
  long l2Offset(int l1Index) throws IOException {
    long offset = l1[l1Index] & TableEntry.L1_OFFSET_MASK;
    if (!aligned(offset)) {
      throw file.corruption(String.format("L2 table offset %s unaligned (L1 index: %s)", hex(offset), hex(l1Index)));
    }
    return offset;
  }

  long[] l2Table(long offset) throws IOException {
    long[] table = l2Cache.get(offset);
    if (table == null) {
      // Only clean tables are evicted, so every table an operation changes stays cached; an
      // evicted table's array takes the new one, so a scan of a large image (map, a long read)
      // allocates nothing per table.
      table = l2Cache.put(offset);
      file.read(offset, l2Buffer, 0, clusterSize);
      l2BufferLongs.get(0, table);
    }
    return table;
  }

  /** Reads a table of {@code entries} entries straight from the file, bypassing the cache. */
  long[] readTable(long offset, int entries) throws IOException {
    byte[] raw = new byte[entries * 8];
    file.read(offset, raw, 0, raw.length);
    long[] table = new long[entries];
    ByteBuffer.wrap(raw).asLongBuffer().get(table);
    return table;
  }

  /** Reads an L2 table straight from the file (raw entries), bypassing the cache. */
  long[] readL2TableFromFile(long offset) throws IOException {
    return readTable(offset, 1 << l2Bits);
  }

  // ---------------------------------------------------------------------------------------------
  // Changes

  void setL2(long l2Offset, long[] l2, int index, long entry) {
    l2[index] = entry;
    l2Cache.markDirty(l2Offset);
  }

  /** Whether the L2 table at {@code offset} is cached with changes not yet written (new tables are). */
  boolean isDirty(long offset) {
    return l2Cache.isDirty(offset);
  }

  /**
   * Caches the new L2 table at {@code offset}, dirty: {@code copy}, or all zeros when null (an
   * evicted table's array is reused then, no garbage per table).
   */
  void addL2Table(long offset, long[] copy) {
    if (copy == null) {
      Arrays.fill(l2Cache.put(offset), 0);
    } else {
      l2Cache.putTable(offset, copy);
    }
    l2Cache.markDirty(offset);
  }

  /** Drops the L2 table at {@code offset} from the cache (it left the active state). */
  void forgetL2Table(long offset) {
    l2Cache.remove(offset);
  }

  /** Drops every cached L2 table (after the file alone was changed, by snapshot operations). */
  void clearCache() {
    l2Cache.clear();
  }

  boolean isCacheFullOfDirty() {
    return l2Cache.isFullOfDirty();
  }

  /** Brings the cache back to its capacity (once the dirty tables are written). */
  void trim() {
    l2Cache.trim();
  }

  // ---------------------------------------------------------------------------------------------
  // Write-back (the order between these and the refcounts is MetadataCommit's)

  /**
   * Writes the dirty L2 tables in offset order, tables at contiguous offsets with one host write
   * (and one overlap check) of at most {@link #L2_WRITE_BYTES}, through one reused buffer.
   */
  void flushL2() throws IOException {
    if (l2Cache.dirtyCount() == 0) {
      return;
    }
    long[] dirty = l2Cache.dirtyKeys();
    int maxRun = Math.max(1, L2_WRITE_BYTES >>> clusterBits);
    for (int i = 0; i < dirty.length; ) {
      int count = 1;
      while (i + count < dirty.length && count < maxRun
          && dirty[i + count] == dirty[i] + ((long) count << clusterBits)) {
        count++;
      }
      int bytes = count << clusterBits;
      if (l2WriteBuffer.length < bytes) {
        l2WriteBuffer = new byte[bytes];
        l2WriteLongs = ByteBuffer.wrap(l2WriteBuffer).asLongBuffer();
      }
      for (int k = 0; k < count; k++) {
        l2WriteLongs.put(k << l2Bits, l2Cache.get(dirty[i + k]));
      }
      file.write(dirty[i], l2WriteBuffer, 0, bytes, ACTIVE_L2.mask());
      i += count;
    }
    l2Cache.markAllClean();
  }

  void flushL1() throws IOException {
    if (l1DirtyTo < 0) {
      return;
    }
    int from = l1DirtyFrom;
    int to = l1DirtyTo;
    int bytes = (to - from + 1) * 8;
    if (l1WriteBuffer.length < bytes) {
      l1WriteBuffer = new byte[Math.max(bytes, Math.min(l1.length * 8, 4096))];
      l1WriteLongs = ByteBuffer.wrap(l1WriteBuffer).asLongBuffer();
    }
    l1WriteLongs.put(0, l1, from, to - from + 1);
    file.write(header.l1Offset + from * 8L, l1WriteBuffer, 0, bytes, ACTIVE_L1.mask());
    l1DirtyFrom = Integer.MAX_VALUE;
    l1DirtyTo = -1;
  }

  // ---------------------------------------------------------------------------------------------

  boolean aligned(long offset) {
    return (offset & (clusterSize - 1)) == 0;
  }

  long clustersFor(long bytes) {
    return (bytes + clusterSize - 1) >>> clusterBits;
  }
}
