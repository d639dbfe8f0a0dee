package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Refcount changes that reach the image in the same header write as the tables they count, so
 * that a crash at any point leaves at worst leaks. The changes that the new active tables' COPIED
 * flags depend on, and every increment, go into copies of the refcount blocks they touch and a
 * copy of the refcount table; one header write switches to them together with the caller's other
 * header fields (the active L1 table, the snapshot table). The other changes (decrements of
 * clusters the new active tables do not reach) are applied in place afterwards: until then they
 * are only leaks.
 *
 * <p>Use: {@link #add}, {@link #markActive} and {@link #retiring} while planning (nothing is
 * written), then {@link #switchTo}, then the caller installs its new state in the engine and the
 * overlap checker, then {@link #finish}.
 *
 * <p>The overlap checker forgets a structure only when the engine retires it: a refcount these
 * changes take to 0 on a cluster the checker protects is refused before the switch (a corruption
 * event), unless the caller declared with {@link #retiring} that it removes exactly those types
 * from the checker after the switch. The frees applied in place by {@link #finish} run after that
 * removal and go through the same check in {@link Refcounts#update}.
 */
final class RefcountShadow {
  /*
   * Why copies: qemu-img check wants COPIED set in an active table entry exactly when the cluster's
   * refcount is 1. A snapshot create raises shared data clusters from 1 to 2 and must clear their
   * COPIED flags; a delete lowers them and must set them. The refcount and the flag live in
   * different clusters, so whichever is written first, the image is briefly "corrupt" (QEMU 7.2
   * leaves thousands of such OFLAG_COPIED errors behind a crash). Writing both into new clusters
   * and switching the header to them in one write of its first sector leaves no such moment.
   */
  /** Writes the header as it is in memory now. */
  interface HeaderWriter {
    void write() throws IOException;
  }

  /** Bits per page of the paged bitset of active clusters. */
  private static final int PAGE_SHIFT = 15;

  private final HostFile file;
  private final Header header;
  private final Refcounts refcounts;
  private final int clusterBits;
  private final int order;
  private final int blockShift;
  /**
   * Per refcount block index, the refcount change of each cluster it covers: 4 bytes per cluster
   * of every block touched (twice the block's own size at 16-bit refcounts).
   */
  private final Map<Long, int[]> deltas = new HashMap<>();
  /** Clusters reached by the new active L1 table (its own clusters aside), as bitset pages. */
  private final Map<Long, long[]> activePages = new HashMap<>();
  /** Per cluster, the checker types the caller removes after the switch (its retired tables). */
  private final Map<Long, Integer> retiringTypes = new HashMap<>();
  private final List<long[]> retiredBlocks = new ArrayList<>();
  private long retiredTableOffset;
  private int retiredTableClusters;

  RefcountShadow(HostFile file, Header header, Refcounts refcounts) {
    this.file = file;
    this.header = header;
    this.refcounts = refcounts;
    this.clusterBits = header.clusterBits;
    this.order = refcounts.order();
    this.blockShift = clusterBits + 3 - order;
  }

  /** Adds {@code delta} to the refcounts of clusters {@code [first, first + count)}. */
  void add(long first, long count, int delta) {
    for (long c = first; c < first + count; c++) {
      int[] block = deltas.computeIfAbsent(c >>> blockShift, k -> new int[1 << blockShift]);
      block[(int) (c & ((1L << blockShift) - 1))] += delta;
    }
  }

  /**
   * Declares that the caller removes {@code types} from the overlap checker for clusters {@code
   * [first, first + count)} after the switch (it retires those structures), so their refcounts
   * may drop to 0 here.
   */
  void retiring(long first, long count, int types) {
    for (long c = first; c < first + count; c++) {
      retiringTypes.merge(c, types, (a, b) -> a | b);
    }
  }

  /** Marks clusters {@code [first, first + count)} as reached by the new active tables. */
  void markActive(long first, long count) {
    for (long c = first; c < first + count; c++) {
      long[] page = activePages.computeIfAbsent(c >>> PAGE_SHIFT, k -> new long[1 << (PAGE_SHIFT - 6)]);
      int bit = (int) (c & ((1L << PAGE_SHIFT) - 1));
      page[bit >>> 6] |= 1L << bit;
    }
  }

  private boolean isActive(long cluster) {
    long[] page = activePages.get(cluster >>> PAGE_SHIFT);
    int bit = (int) (cluster & ((1L << PAGE_SHIFT) - 1));
    return page != null && (page[bit >>> 6] & (1L << bit)) != 0;
  }

  private long delta(long cluster) {
    int[] block = deltas.get(cluster >>> blockShift);
    return block == null ? 0 : block[(int) (cluster & ((1L << blockShift) - 1))];
  }

  /** The refcount {@code cluster} has once every change is applied. */
  long finalRefcount(long cluster) throws IOException {
    return refcounts.get(cluster) + delta(cluster);
  }

  /** Whether a change goes into the copies (else it is applied in place after the switch). */
  private boolean inCopy(long cluster, long delta) {
    return delta > 0 || (delta != 0 && isActive(cluster));
  }

  /**
   * Writes copies of the refcount blocks with changes that must be switched with the header and a
   * copy of the refcount table, then {@code headerChange} applied to the header and the header
   * written (one write), then reloads the refcounts from the new table and moves the checker's
   * refcount structures. New clusters come from the current refcounts (so before the switch they
   * are leaks).
   *
   * @throws Qcow2Exception if a change would take a refcount below 0 or above its maximum; nothing
   *     visible has changed then (the clusters allocated so far leak)
   */
  void switchTo(Runnable headerChange, HeaderWriter writeHeader) throws IOException {
    checkFrees();
    TreeMap<Long, int[]> copied = new TreeMap<>();
    for (Map.Entry<Long, int[]> e : deltas.entrySet()) {
      long base = e.getKey() << blockShift;
      int[] block = e.getValue();
      for (int i = 0; i < block.length; i++) {
        if (inCopy(base + i, block[i])) {
          copied.put(e.getKey(), block);
          break;
        }
      }
    }
    long max = RefcountEntries.max(order);
    for (long index : copied.keySet()) {
      if (index >= refcounts.table.length
          || (refcounts.table[(int) index] & MetadataView.REFCOUNT_TABLE_OFFSET_MASK) == 0) {
        throw new CorruptImageException(String.format(
            "No refcount block for clusters from 0x%x that the snapshot tables reference",
            (index << blockShift) << clusterBits));
      }
    }
    long[] copyOffsets = new long[copied.size()];
    for (int i = 0; i < copyOffsets.length; i++) {
      copyOffsets[i] = refcounts.allocate(1);
    }
    long tableOffset;
    int tableClusters;
    do {
      tableClusters = header.refcountTableClusters;
      tableOffset = refcounts.allocate(tableClusters);
    } while (header.refcountTableClusters != tableClusters); // grew while allocating: again
    refcounts.flush();
    file.force(false);

    long[] table = refcounts.table.clone();
    int i = 0;
    for (Map.Entry<Long, int[]> e : copied.entrySet()) {
      int index = (int) (long) e.getKey();
      long oldOffset = table[index] & MetadataView.REFCOUNT_TABLE_OFFSET_MASK;
      byte[] raw = refcounts.readBlock(oldOffset);
      long base = e.getKey() << blockShift;
      int[] block = e.getValue();
      for (int j = 0; j < block.length; j++) {
        if (!inCopy(base + j, block[j])) {
          continue;
        }
        long stored = RefcountEntries.get(raw, j, order);
        long value = stored + block[j];
        if (block[j] < 0 ? Long.compareUnsigned(stored, -block[j]) < 0
            : Long.compareUnsigned(value, max) > 0 || Long.compareUnsigned(value, stored) < 0) {
          throw new Qcow2Exception(String.format(
              "Refcount of cluster offset 0x%x would become %d (at most %s for %d-bit refcounts)",
              (base + j) << clusterBits, stored + block[j], Long.toUnsignedString(max),
              1 << order));
        }
        RefcountEntries.set(raw, j, order, value);
        block[j] = 0; // applied: nothing is left for finish()
      }
      file.write(copyOffsets[i], raw, 0, raw.length, 0);
      retiredBlocks.add(new long[] {oldOffset, copyOffsets[i]});
      table[index] = copyOffsets[i++];
    }
    byte[] rawTable = new byte[tableClusters << clusterBits];
    ByteBuffer.wrap(rawTable).asLongBuffer().put(table);
    file.write(tableOffset, rawTable, 0, rawTable.length, 0);
    file.force(false);

    retiredTableOffset = header.refcountTableOffset;
    retiredTableClusters = header.refcountTableClusters;
    header.refcountTableOffset = tableOffset;
    header.refcountTableClusters = tableClusters;
    headerChange.run();
    writeHeader.write();
    file.force(false);
    refcounts.reload();

    MetadataTracker tracker = file.tracker;
    tracker.enter(tableOffset, tableClusters, MetadataType.REFCOUNT_TABLE.mask());
    tracker.remove(retiredTableOffset, retiredTableClusters, MetadataType.REFCOUNT_TABLE.mask());
    for (long[] moved : retiredBlocks) {
      tracker.enter(moved[1], 1, MetadataType.REFCOUNT_BLOCK.mask());
      tracker.remove(moved[0], 1, MetadataType.REFCOUNT_BLOCK.mask());
    }
  }

  /**
   * Refuses a refcount that would drop below 0 (a table reached twice through a damaged pointer,
   * whose second decrement frees what is still in use; QEMU fails on the underflow after changing
   * other refcounts), or to 0 on a cluster the checker protects for a type the caller does not
   * retire (QEMU's "Preventing invalid free"). Callers run it once the changes are planned, before
   * their first write; {@link #switchTo} runs it again.
   *
   * @throws MetadataCorruptionException then (the image is marked corrupt)
   */
  void checkFrees() throws IOException {
    MetadataTracker checker = file.tracker;
    for (Map.Entry<Long, int[]> e : deltas.entrySet()) {
      long base = e.getKey() << blockShift;
      int[] block = e.getValue();
      for (int j = 0; j < block.length; j++) {
        if (block[j] >= 0) {
          continue;
        }
        long offset = (base + j) << clusterBits;
        long refcount = refcounts.get(base + j);
        if (Long.compareUnsigned(refcount, -(long) block[j]) < 0) {
          throw file.corruption(String.format(
              "Preventing invalid free (the refcount of the cluster at offset %s, %s, would drop"
                  + " below 0: it is reached more often than counted)",
              MetadataCorruptionException.hex(offset), Long.toUnsignedString(refcount)));
        }
        if (refcount != -(long) block[j] || checker.enabledMask() == 0) {
          continue;
        }
        int mask = checker.check(offset, 1L << clusterBits,
            retiringTypes.getOrDefault(base + j, 0));
        if (mask != 0) {
          throw file.corruption(String.format(
              "Preventing invalid free of metadata (the refcount of the %s at offset %s would drop to 0)",
              MetadataType.fromMask(Integer.lowestOneBit(mask)).get(0).description(),
              MetadataCorruptionException.hex(offset)));
        }
      }
    }
  }

  /**
   * After the switch and after the caller installed its state: applies the remaining changes in
   * place and frees the old refcount table and the replaced blocks (all of them leaks until then).
   */
  void finish() throws IOException {
    for (Map.Entry<Long, int[]> e : deltas.entrySet()) {
      long base = e.getKey() << blockShift;
      int[] block = e.getValue();
      for (int j = 0; j < block.length; j++) {
        for (int k = block[j]; k < 0; k++) {
          refcounts.update(base + j, 1, -1);
        }
      }
    }
    refcounts.update(retiredTableOffset >>> clusterBits, retiredTableClusters, -1);
    for (long[] moved : retiredBlocks) {
      refcounts.update(moved[0] >>> clusterBits, 1, -1);
    }
    refcounts.flush();
  }
}
