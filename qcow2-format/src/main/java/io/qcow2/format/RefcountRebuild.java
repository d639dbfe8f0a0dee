package io.qcow2.format;

import com.google.common.base.Preconditions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * QEMU 7.2's {@code rebuild_refcount_structure()}: new refcount blocks holding the counted
 * references, then a new refcount table, then the header switched to it. The old structure stays
 * counted in the new one (leaked: the caller frees it). New clusters are taken first fit from the
 * counted references: each refcount block from the start of the clusters it covers, the table
 * anywhere. Every write is first checked against the metadata the check found.
 */
final class RefcountRebuild {
  private final CheckFile file;
  private final ClusterReferences references;
  private final StoredRefcounts stored;
  private final CheckReport report;
  private final int clusterBits;
  private final long clusterSize;
  private final int refcountOrder;

  /**
   * The refcounts the new structure holds, per cluster ({@code alloc_clusters_imrt}'s array), a
   * byte each as the check's: a file a repair grew to 2^28 clusters costs 256 MiB, not 2 GiB.
   */
  private ReferenceCounts counts;
  private long size;
  /** The new refcount table, of {@link #tableEntries} entries. */
  private long[] table = new long[0];
  private int tableEntries;
  private boolean failed;

  RefcountRebuild(CheckFile file, CheckedHeader header, ClusterReferences references,
      StoredRefcounts stored, CheckReport report) {
    this.file = file;
    this.references = references;
    this.stored = stored;
    this.report = report;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.refcountOrder = header.refcountOrder;
  }

  /** Rebuilds; false (with the report's failure set) if a write was refused. */
  boolean run() throws IOException {
    long clusters = references.clusters();
    counts = new ReferenceCounts(Math.max(clusters, 1));
    for (long cluster = 0; cluster < clusters; cluster++) {
      counts.add(cluster, references.count(cluster));
    }
    size = clusters;
    long tableOffset;
    long tableClusters;
    boolean grown = writeRefcountBlocks(0, size);
    assert grown;
    do {
      tableClusters = (tableEntries * 8L + clusterSize - 1) >>> clusterBits;
      long[] firstFree = {0};
      tableOffset = allocate(tableClusters, firstFree);
      long start = tableOffset >>> clusterBits;
      grown = writeRefcountBlocks(start, start + tableClusters);
      if (grown) {
        // Too small now: give the clusters back and place a larger table.
        for (long cluster = start; cluster < start + tableClusters; cluster++) {
          counts.clear(cluster);
        }
      }
    } while (grown);
    if (failed) {
      return false;
    }
    ByteBuffer tableBytes = ByteBuffer.allocate((int) (tableClusters << clusterBits));
    tableBytes.asLongBuffer().put(table, 0, tableEntries);
    if (!references.overlapFree(tableOffset, tableBytes.capacity(), 0)) {
      report.repairFailed("ERROR writing reftable: Preventing invalid write on metadata");
      return false;
    }
    file.write(tableBytes, tableOffset);
    file.force();
    file.write(ByteBuffer.allocate(12).putLong(0, tableOffset).putInt(8, (int) tableClusters),
        48);
    file.force();
    int entries = (int) (tableClusters << clusterBits >>> 3);
    stored.replaceTable(tableOffset, Arrays.copyOf(table, entries), entries);
    return true;
  }

  /**
   * {@code alloc_clusters_imrt()}: the first run of {@code count} free clusters from {@code
   * firstFree[0]} (which moves to the first gap seen), growing the counts if none; their counts
   * become 1.
   */
  private long allocate(long count, long[] firstFree) {
    long cluster = firstFree[0];
    long run = 0;
    boolean firstGap = true;
    for (; cluster < size && run < count; cluster++) {
      if (counts.get(cluster) == 0) {
        run++;
        if (firstGap) {
          firstFree[0] = cluster;
          firstGap = false;
        }
      } else {
        run = 0;
      }
    }
    if (run < count) {
      grow(cluster + count - run);
    }
    cluster -= run;
    for (long c = cluster; c < cluster + count; c++) {
      counts.increment(c);   // from 0
    }
    return cluster << clusterBits;
  }

  private void grow(long newSize) {
    Preconditions.checkState(newSize <= ClusterReferences.MAX_FILE_CLUSTERS,
        "refcount rebuild past %s clusters", ClusterReferences.MAX_FILE_CLUSTERS);
    if (newSize > counts.clusters()) {
      counts.grow(Math.min(Math.max(newSize, counts.clusters() * 2L),
          ClusterReferences.MAX_FILE_CLUSTERS));
    }
    size = Math.max(size, newSize);
  }

  /**
   * {@code rebuild_refcounts_write_refblocks()}: writes a refcount block, allocating it if new,
   * for every block of clusters in {@code [first, end)} with a non-zero count. Returns whether the
   * table had to grow.
   */
  private boolean writeRefcountBlocks(long first, long end) throws IOException {
    int blockBits = clusterBits + 3 - refcountOrder;
    long blockEntries = 1L << blockBits;
    long[] firstFree = {0};
    boolean grown = false;
    for (long cluster = first; cluster < end && !failed; cluster++) {
      if (counts.get(cluster) == 0) {
        continue;
      }
      long index = cluster >>> blockBits;
      long start = index << blockBits;
      long blockOffset;
      if (index < tableEntries && table[(int) index] != 0) {
        blockOffset = table[(int) index];
      } else {
        firstFree[0] = Math.max(firstFree[0], start);
        blockOffset = allocate(1, firstFree);
        end = Math.max(end, (blockOffset >>> clusterBits) + 1);
        if (tableEntries <= index) {
          long entriesPerCluster = clusterSize / 8;
          long entries = (index + entriesPerCluster) / entriesPerCluster * entriesPerCluster;
          Preconditions.checkState(entries <= Header.MAX_REFTABLE_BYTES / 8,
              "refcount table of %s entries", entries);
          table = Arrays.copyOf(table, (int) entries);
          tableEntries = (int) entries;
          grown = true;
        }
        table[(int) index] = blockOffset;
      }
      if (!references.overlapFree(blockOffset, clusterSize, 0)) {
        report.repairFailed("ERROR writing refblock: Preventing invalid write on metadata");
        failed = true;
        return grown;
      }
      byte[] block = new byte[(int) clusterSize];
      for (long i = 0; i < blockEntries && start + i < size; i++) {
        RefcountEntries.set(block, (int) i, refcountOrder, counts.get(start + i));
      }
      file.write(ByteBuffer.wrap(block), blockOffset);
      cluster = start + blockEntries - 1;
    }
    return grown;
  }
}
