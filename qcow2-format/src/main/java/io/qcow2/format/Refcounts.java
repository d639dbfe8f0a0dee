package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The refcount table and a write-back cache of refcount blocks; first-fit cluster allocation.
 *
 * <p>Ordering (so a crash leaks at worst): {@link #flush()} writes dirty blocks before the table
 * entries that point at them; the image writes L2 and L1 tables only after {@link #flush()}, and
 * decrements (queued with {@link #deferFree}) are applied only after the tables no longer point at
 * the clusters ({@link #applyFrees()}).
 */
final class Refcounts {
  private final HostFile file;
  private final Header header;
  private final int clusterBits;
  private final int order;
  /** log2 of the entries per refcount block. */
  private final int blockShift;
  long[] table;
  /** Refcount blocks by refcount table index; sized by {@code refcount-cache-size}. */
  private final TableCache<byte[]> blocks;
  private int dirtyTableFrom = Integer.MAX_VALUE;
  private int dirtyTableTo = -1;
  private long lastBlockIndex = -1;
  private byte[] lastBlock;
  /** Lowest cluster index that may be free. */
  private long freeHint = 0;
  /**
   * Cluster ranges being set up (a new table, a new block) that first-fit must not hand out: a
   * stack of {@code reservedCount} ranges (primitive, as allocation is the hot path).
   */
  private long[] reservedFrom = new long[4];
  private long[] reservedClusters = new long[4];
  private int reservedCount;
  private final List<long[]> pendingFrees = new ArrayList<>();
  Refcounts(HostFile file, Header header, int cachedBlocks) throws IOException {
    this.file = file;
    this.header = header;
    this.clusterBits = header.clusterBits;
    this.order = header.refcountOrder;
    this.blockShift = clusterBits + 3 - order;
    this.blocks = new TableCache<>(cachedBlocks, () -> new byte[1 << header.clusterBits]);
    this.table = readTable();
  }

  private long[] readTable() throws IOException {
    int entries = (int) (((long) header.refcountTableClusters << clusterBits) / 8);
    byte[] raw = new byte[entries * 8];
    file.read(header.refcountTableOffset, raw, 0, raw.length);
    long[] t = new long[entries];
    ByteBuffer.wrap(raw).asLongBuffer().get(t);
    return t;
  }

  /** Forgets every cached block and reloads the table from disk (after a corruption event). */
  void reload() throws IOException {
    blocks.clear();
    dirtyTableFrom = Integer.MAX_VALUE;
    dirtyTableTo = -1;
    lastBlockIndex = -1;
    lastBlock = null;
    pendingFrees.clear();
    table = readTable();
  }

  /**
   * Fails if two refcount table entries name the same block: such a table makes the allocator scan
   * refcounts the file does not hold, so writable opens refuse it (qemu-img check reports it too).
   */
  void checkDistinctBlocks() throws CorruptImageException {
    long[] offsets = new long[table.length];
    int n = 0;
    for (long e : table) {
      long offset = e & MetadataView.REFCOUNT_TABLE_OFFSET_MASK;
      if (offset != 0) {
        offsets[n++] = offset;
      }
    }
    Arrays.sort(offsets, 0, n);
    for (int i = 1; i < n; i++) {
      if (offsets[i] == offsets[i - 1]) {
        throw new CorruptImageException(String.format(
            "Invalid refcount table at file offset 0x%x: two entries point at refcount block 0x%x; "
                + "the image cannot be opened read/write. Repair it with 'qemu-img check -r all'",
            header.refcountTableOffset, offsets[i]));
      }
    }
  }

  int order() {
    return order;
  }

  /** Entries per refcount block. */
  long entriesPerBlock() {
    return 1L << blockShift;
  }

  /** The refcount of the cluster with index {@code cluster}; 0 where no block covers it. */
  long get(long cluster) throws IOException {
    byte[] block = block(cluster >>> blockShift, false);
    return block == null ? 0 : RefcountEntries.get(block, (int) (cluster & ((1L << blockShift) - 1)), order);
  }

  /** Sets a refcount, allocating refcount blocks (and growing the table) as needed. */
  void set(long cluster, long value) throws IOException {
    long index = cluster >>> blockShift;
    byte[] block = block(index, value != 0);
    if (block == null) {
      return;
    }
    RefcountEntries.set(block, (int) (cluster & ((1L << blockShift) - 1)), order, value);
    blocks.markDirty(index);
  }

  /**
   * Adds {@code delta} (+1 or -1) to the refcounts of clusters {@code [first, first + count)}.
   *
   * @throws MetadataCorruptionException if a refcount would drop to 0 on a cluster the overlap
   *     checker still protects: the engine retires its own structures from the checker before it
   *     frees them, so only a corrupt pointer gets here
   */
  void update(long first, long count, int delta) throws IOException {
    update(first, count, delta, true);
  }

  private void update(long first, long count, int delta, boolean checkLive) throws IOException {
    for (long c = first; c < first + count; c++) {
      long v = get(c);
      long nv = v + delta;
      if (delta < 0 && v == 0) {
        // Only a corrupt image gets here (a pointer to an unreferenced cluster); leave it at 0.
        continue;
      }
      if (delta > 0 && Long.compareUnsigned(v, RefcountEntries.max(order)) >= 0) {
        throw new Qcow2Exception(String.format(
            "Refcount overflow: cluster offset 0x%x already has the maximum refcount %s for %d-bit refcounts",
            c << clusterBits, Long.toUnsignedString(v), 1 << order));
      }
      if (nv == 0 && checkLive) {
        checkNotLive(c, 1);
      }
      set(c, nv);
      if (nv == 0 && c < freeHint) {
        freeHint = c;
      }
    }
  }

  /**
   * Fails if the checker protects metadata on any of clusters {@code [first, first + count)},
   * which are about to reach refcount 0 (a strategy keeps protecting a structure until the engine
   * itself retires it, whatever its refcount says).
   */
  private void checkNotLive(long first, long count) throws IOException {
    MetadataTracker checker = file.tracker;
    if (checker.check(first << clusterBits, count << clusterBits, 0) == 0) {
      return;
    }
    for (long c = first; c < first + count; c++) {
      int mask = checker.check(c << clusterBits, 1L << clusterBits, 0);
      if (mask != 0) {
        throw file.corruption(String.format(
            "Preventing invalid free of metadata (the refcount of the %s at offset %s would drop to 0)",
            MetadataType.fromMask(Integer.lowestOneBit(mask)).get(0).description(),
            MetadataCorruptionException.hex(c << clusterBits)));
      }
    }
  }

  /**
   * Checks, before anything of the request is written, every cluster the queued decrements
   * ({@link #deferFree}) would take to refcount 0: none may hold metadata the checker protects.
   * Reads the refcounts involved, so an unaligned refcount block is found here too.
   *
   * @throws MetadataCorruptionException otherwise
   */
  void checkPendingFrees() throws IOException {
    int n = pendingFrees.size();
    if (n == 0) {
      return;
    }
    // A sweep over the queued ranges: a cluster queued k times loses k references.
    long[] starts = new long[n];
    long[] ends = new long[n];
    for (int i = 0; i < n; i++) {
      long[] f = pendingFrees.get(i);
      starts[i] = f[0];
      ends[i] = f[0] + f[1];
    }
    Arrays.sort(starts);
    Arrays.sort(ends);
    int i = 0;
    int j = 0;
    int depth = 0;
    long position = 0;
    long runStart = -1;
    long runEnd = -1;
    while (j < n) {
      long next = i < n ? Math.min(starts[i], ends[j]) : ends[j];
      for (long c = position; depth > 0 && c < next; c++) {
        long v = get(c);
        if (v != 0 && Long.compareUnsigned(v, depth) <= 0) {
          if (c != runEnd) {
            if (runStart >= 0) {
              checkNotLive(runStart, runEnd - runStart);
            }
            runStart = c;
          }
          runEnd = c + 1;
        }
      }
      while (i < n && starts[i] == next) {
        depth++;
        i++;
      }
      while (j < n && ends[j] == next) {
        depth--;
        j++;
      }
      position = next;
    }
    if (runStart >= 0) {
      checkNotLive(runStart, runEnd - runStart);
    }
  }

  /** Queues a decrement of clusters {@code [offset, offset + bytes)} for {@link #applyFrees}. */
  void deferFree(long offset, long bytes) {
    long first = offset >>> clusterBits;
    long last = (offset + bytes - 1) >>> clusterBits;
    pendingFrees.add(new long[] {first, last - first + 1});
  }

  /** Applies the queued decrements; the caller ran {@link #checkPendingFrees} before its writes. */
  void applyFrees() throws IOException {
    List<long[]> frees = new ArrayList<>(pendingFrees);
    pendingFrees.clear();
    for (long[] f : frees) {
      update(f[0], f[1], -1, false);
    }
  }

  /**
   * Allocates {@code count} contiguous clusters, first fit from the lowest free cluster, and sets
   * their refcounts to 1.
   *
   * @return the host offset of the first
   */
  long allocate(long count) throws IOException {
    long start = findFree(count);
    reserve(start, count);
    for (long c = start; c < start + count; c++) {
      set(c, 1);
    }
    unreserve();
    return start << clusterBits;
  }

  private long findFree(long count) throws IOException {
    long c = freeHint;
    long firstFree = -1;
    long runStart = c;
    long run = 0;
    while (run < count) {
      if (c >= Header.MAX_HOST_OFFSET >>> clusterBits) {
        throw new Qcow2Exception("Image is full: no free clusters below 2^56");
      }
      if (isFree(c)) {
        if (firstFree < 0) {
          firstFree = c;
        }
        if (run == 0) {
          runStart = c;
        }
        run++;
      } else {
        run = 0;
      }
      c++;
    }
    freeHint = firstFree == runStart ? runStart + count : firstFree;
    return runStart;
  }

  private boolean isFree(long cluster) throws IOException {
    for (int i = 0; i < reservedCount; i++) {
      if (cluster >= reservedFrom[i] && cluster < reservedFrom[i] + reservedClusters[i]) {
        return false;
      }
    }
    // Cluster 0 is not special-cased: with a corrupt refcount for the header, QEMU would hand it
    // out too, and the overlap check is what stops the write.
    return get(cluster) == 0;
  }

  private void reserve(long from, long count) {
    if (reservedCount == reservedFrom.length) {
      reservedFrom = Arrays.copyOf(reservedFrom, reservedCount * 2);
      reservedClusters = Arrays.copyOf(reservedClusters, reservedCount * 2);
    }
    reservedFrom[reservedCount] = from;
    reservedClusters[reservedCount] = count;
    reservedCount++;
  }

  private void unreserve() {
    reservedCount--;
  }

  /** The block with {@code index}, read or created; null if absent and {@code create} is false. */
  private byte[] block(long index, boolean create) throws IOException {
    if (index == lastBlockIndex) {
      return lastBlock;
    }
    if (index >= table.length) {
      if (!create) {
        return null;
      }
      growTable(index + 1);
    }
    long entry = table[(int) index];
    long offset = entry & MetadataView.REFCOUNT_TABLE_OFFSET_MASK;
    byte[] block;
    if (offset == 0) {
      if (!create) {
        return null;
      }
      block = allocateBlock(index);
    } else {
      block = blocks.get(index);
      if (block == null) {
        if ((offset & ((1L << clusterBits) - 1)) != 0) {
          throw file.corruption(String.format("Refblock offset %s unaligned (reftable index: %s)",
              MetadataCorruptionException.hex(offset), MetadataCorruptionException.hex(index)));
        }
        if (Long.compareUnsigned(offset, Header.MAX_HOST_OFFSET) >= 0) {
          throw CorruptImageException.field("refcount table entry " + index, entry,
              "refcount block offset must be below 2^56", header.refcountTableOffset + index * 8);
        }
        file.checkInside(offset, 1L << clusterBits, "refcount table entry", index);
        // May evict a clean block and reuse its array: the memo may name it, so it goes.
        lastBlockIndex = -1;
        lastBlock = null;
        block = blocks.put(index);
        file.read(offset, block, 0, block.length);
      }
    }
    lastBlockIndex = index;
    lastBlock = block;
    return block;
  }

  private byte[] allocateBlock(long index) throws IOException {
    long cluster = findFree(1);
    if (cluster == 0) {
      throw file.corruption("Preventing invalid allocation of refcount block at offset 0");
    }
    // The new block describes itself when its cluster falls in its own range (spec: refcount
    // blocks may cover their own cluster).
    boolean describesItself = cluster >>> blockShift == index;
    if (!describesItself) {
      reserve(cluster, 1);
      set(cluster, 1);
      unreserve();
      if ((table[(int) index] & MetadataView.REFCOUNT_TABLE_OFFSET_MASK) != 0) {
        // Setting that refcount needed a block whose own cluster fell into our range, so the
        // recursion already created our block: give the cluster back and use that one.
        set(cluster, 0);
        freeHint = Math.min(freeHint, cluster);
        return blocks.get(index);
      }
    }
    file.tracker.enter(cluster << clusterBits, 1, MetadataType.REFCOUNT_BLOCK.mask());
    // Cached only now, after the recursion above: a clean block may be evicted (and its array
    // reused) by any lookup, the memo's included.
    lastBlockIndex = -1;
    lastBlock = null;
    byte[] block = blocks.put(index);
    Arrays.fill(block, (byte) 0);
    if (describesItself) {
      RefcountEntries.set(block, (int) (cluster & ((1L << blockShift) - 1)), order, 1);
    }
    blocks.markDirty(index);
    table[(int) index] = cluster << clusterBits;
    markTableDirty((int) index);
    return block;
  }

  private void markTableDirty(int index) {
    dirtyTableFrom = Math.min(dirtyTableFrom, index);
    dirtyTableTo = Math.max(dirtyTableTo, index);
  }

  /** Moves the refcount table to new clusters with room for at least {@code minEntries}. */
  private void growTable(long minEntries) throws IOException {
    int entriesPerCluster = 1 << (clusterBits - 3);
    long maxClusters = Header.MAX_REFTABLE_BYTES >>> clusterBits;
    long clusters = Math.max((Math.max(minEntries, table.length * 2L) + entriesPerCluster - 1) / entriesPerCluster, 1);
    long start;
    while (true) {
      if (clusters > maxClusters) {
        throw new Qcow2Exception(String.format(
            "Refcount table would need %d clusters, more than the maximum %d (8 MiB)", clusters, maxClusters));
      }
      start = findFree(clusters);
      // The new table must also cover its own clusters and the blocks that describe them.
      long needed = ((start + clusters + 2 * clusters + 2) >>> blockShift) + 1;
      if (needed <= clusters * entriesPerCluster) {
        break;
      }
      clusters = (Math.max(needed, clusters * entriesPerCluster * 2L) + entriesPerCluster - 1) / entriesPerCluster;
    }
    long oldOffset = header.refcountTableOffset;
    int oldClusters = header.refcountTableClusters;
    table = Arrays.copyOf(table, (int) (clusters * entriesPerCluster));
    lastBlockIndex = -1;
    reserve(start, clusters);
    for (long c = start; c < start + clusters; c++) {
      set(c, 1);
    }
    unreserve();
    flushBlocks();
    long offset = start << clusterBits;
    file.tracker.enter(offset, clusters, MetadataType.REFCOUNT_TABLE.mask());
    byte[] raw = new byte[table.length * 8];
    ByteBuffer.wrap(raw).asLongBuffer().put(table);
    file.write(offset, raw, 0, raw.length, MetadataType.REFCOUNT_TABLE.mask());
    dirtyTableFrom = Integer.MAX_VALUE;
    dirtyTableTo = -1;
    header.refcountTableOffset = offset;
    header.refcountTableClusters = (int) clusters;
    byte[] h = header.encode();
    file.write(0, h, 0, h.length, MetadataType.MAIN_HEADER.mask());
    file.tracker.remove(oldOffset, oldClusters, MetadataType.REFCOUNT_TABLE.mask());
    deferFree(oldOffset, (long) oldClusters << clusterBits);
  }

  private void flushBlocks() throws IOException {
    if (blocks.dirtyCount() == 0) {
      return;
    }
    for (long index : blocks.dirtyKeys()) {
      byte[] block = blocks.get(index);
      long offset = table[(int) index] & MetadataView.REFCOUNT_TABLE_OFFSET_MASK;
      file.write(offset, block, 0, block.length, MetadataType.REFCOUNT_BLOCK.mask());
    }
    blocks.markAllClean();
  }

  /** Writes dirty refcount blocks, then the dirty part of the table. */
  void flush() throws IOException {
    flushBlocks();
    if (dirtyTableTo >= 0) {
      int from = dirtyTableFrom;
      int to = dirtyTableTo;
      byte[] raw = new byte[(to - from + 1) * 8];
      ByteBuffer bb = ByteBuffer.wrap(raw);
      for (int i = from; i <= to; i++) {
        bb.putLong(table[i]);
      }
      file.write(header.refcountTableOffset + from * 8L, raw, 0, raw.length, MetadataType.REFCOUNT_TABLE.mask());
      dirtyTableFrom = Integer.MAX_VALUE;
      dirtyTableTo = -1;
    }
  }

  /** Evicts clean cached blocks down to the cache's size (after a commit). */
  void trim() {
    if (blocks.size() > blocks.capacity()) {
      blocks.trim();
      lastBlockIndex = -1;
      lastBlock = null;
    }
  }

  /** Whether the block cache holds as many dirty blocks as its size: time to commit. */
  boolean isCacheFullOfDirty() {
    return blocks.isFullOfDirty();
  }

  /** Reads a refcount block straight from the file (for checkers): no cache. */
  byte[] readBlock(long offset) throws IOException {
    byte[] block = new byte[1 << clusterBits];
    file.read(offset, block, 0, block.length);
    return block;
  }

  /** Lowest cluster index after every cluster with a non-zero refcount. */
  long end() throws IOException {
    for (int i = table.length - 1; i >= 0; i--) {
      if ((table[i] & MetadataView.REFCOUNT_TABLE_OFFSET_MASK) != 0) {
        long base = (long) i << blockShift;
        for (long c = base + (1L << blockShift) - 1; c >= base; c--) {
          if (get(c) != 0) {
            return c + 1;
          }
        }
      }
    }
    return 1;
  }
}
