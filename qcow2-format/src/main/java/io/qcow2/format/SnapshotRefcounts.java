package io.qcow2.format;

import java.io.IOException;

/**
 * What a snapshot operation does to refcounts, before its switch: counts the clusters an L2 table
 * reaches into a {@link RefcountShadow} (one path each, as qemu-img check counts them), sets
 * COPIED from the final refcounts, and refuses before anything changes an L1 table whose L2
 * tables are unaligned or past the file's end, or an increment that would overflow a refcount.
 */
final class SnapshotRefcounts {
  private final HostFile file;
  private final Refcounts refcounts;
  private final ActiveTables tables;
  private final int clusterBits;
  private final long clusterSize;

  SnapshotRefcounts(HostFile file, Header header, Refcounts refcounts, ActiveTables tables) {
    this.file = file;
    this.refcounts = refcounts;
    this.tables = tables;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
  }

  /**
   * Adds {@code delta} to the refcount of every cluster the entries of {@code l2} reference (one
   * path each, as qemu-img check counts them: a data cluster of an L2 table that two L1 tables
   * share counts twice) and, if {@code active}, marks them as reached by the new active tables.
   */
  void addL2(RefcountShadow shadow, long l2Offset, long[] l2, int delta, boolean active)
      throws IOException {
    for (int j = 0; j < l2.length; j++) {
      long entry = l2[j];
      long first;
      long count;
      if ((entry & TableEntry.COMPRESSED) != 0) {
        long[] range = compressedClusters(entry);
        first = range[0];
        count = range[1];
      } else {
        long host = entry & TableEntry.L2_OFFSET_MASK;
        if (host == 0) {
          continue;
        }
        checkClusterAligned(host, l2Offset, j);
        first = host >>> clusterBits;
        count = 1;
      }
      if (delta != 0) {
        shadow.add(first, count, delta);
      }
      if (active) {
        shadow.markActive(first, count);
      }
    }
  }

  /** {@code l2} with COPIED set exactly where the final refcount is 1 (never on compressed). */
  long[] withCopiedFlags(RefcountShadow shadow, long[] l2) throws IOException {
    long[] flags = l2.clone();
    for (int j = 0; j < flags.length; j++) {
      long entry = flags[j];
      long host = entry & TableEntry.L2_OFFSET_MASK;
      if ((entry & TableEntry.COMPRESSED) != 0 || host == 0) {
        continue;
      }
      boolean copied = shadow.finalRefcount(host >>> clusterBits) == 1;
      flags[j] = copied ? entry | TableEntry.COPIED : entry & ~TableEntry.COPIED;
    }
    return flags;
  }

  /**
   * Whether QEMU's qcow2_update_snapshot_refcount would write {@code l2} back in place: it sets
   * COPIED on every allocated, uncompressed entry whose refcount is 1 and clears it on every other
   * entry (compressed, unallocated and zero entries included), and writes the table if any entry
   * changed. The final refcounts stand in for the ones QEMU reads as it goes.
   */
  boolean qemuRewrites(RefcountShadow shadow, long[] l2) throws IOException {
    for (long entry : l2) {
      long host = entry & TableEntry.L2_OFFSET_MASK;
      boolean copied = (entry & TableEntry.COMPRESSED) == 0 && host != 0
          && shadow.finalRefcount(host >>> clusterBits) == 1;
      if (copied != ((entry & TableEntry.COPIED) != 0)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Fails before anything changes if a +1 over {@code l1} would overflow a refcount (images with
   * narrow refcounts, e.g. refcount_bits=1, cannot share clusters); QEMU would stop half-way.
   */
  void checkIncrement(long[] l1, String what) throws IOException {
    checkL2Offsets(l1, what);
    long max = RefcountEntries.max(refcounts.order());
    for (long l1Entry : l1) {
      long l2Offset = l1Entry & TableEntry.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      checkBelowMax(l2Offset >>> clusterBits, max, what);
      for (long entry : tables.readL2TableFromFile(l2Offset)) {
        if ((entry & TableEntry.COMPRESSED) != 0) {
          long[] range = compressedClusters(entry);
          for (long c = range[0]; c < range[0] + range[1]; c++) {
            checkBelowMax(c, max, what);
          }
        } else if ((entry & TableEntry.L2_OFFSET_MASK) != 0) {
          checkBelowMax((entry & TableEntry.L2_OFFSET_MASK) >>> clusterBits, max, what);
        }
      }
    }
  }

  /**
   * L1 entries come from the file: every L2 table must be cluster-aligned and inside the file
   * before any refcount changes (a hostile offset would otherwise grow the refcount structures).
   */
  void checkL2Offsets(long[] l1, String what) throws IOException {
    long fileSize = file.size();
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = l1[i] & TableEntry.L1_OFFSET_MASK;
      checkL2Aligned(l2Offset, i);
      if (l2Offset != 0 && l2Offset + clusterSize > fileSize) {
        throw new CorruptImageException(String.format(
            "Cannot %s: L1 entry %d points at an L2 table at offset 0x%x beyond the end of the"
                + " file (%d bytes)", what, i, l2Offset, fileSize));
      }
    }
  }

  /** QEMU's check in qcow2_update_snapshot_refcount: a corruption event, as on any other path. */
  private void checkL2Aligned(long l2Offset, int l1Index) throws IOException {
    if ((l2Offset & (clusterSize - 1)) != 0) {
      throw file.corruption(String.format("L2 table offset %s unaligned (L1 index: %s)",
          MetadataCorruptionException.hex(l2Offset), MetadataCorruptionException.hex(l1Index)));
    }
  }

  private void checkBelowMax(long cluster, long max, String what) throws IOException {
    long refcount = refcounts.get(cluster);
    if (Long.compareUnsigned(refcount, max) >= 0) {
      throw new Qcow2Exception(String.format(
          "Cannot %s: cluster at offset 0x%x already has the maximum refcount %s for %d-bit "
              + "refcounts", what, cluster << clusterBits, Long.toUnsignedString(refcount),
          1 << refcounts.order()));
    }
  }

  /** Clusters {first, count} a compressed entry's data touches. */
  private long[] compressedClusters(long entry) {
    long start = CompressedDescriptor.firstSector(entry, clusterBits);
    long end = start + CompressedDescriptor.sectors(entry, clusterBits) * 512;
    long first = start >>> clusterBits;
    return new long[] {first, ((end - 1) >>> clusterBits) - first + 1};
  }

  private void checkClusterAligned(long host, long l2Offset, int l2Index) throws IOException {
    if ((host & (clusterSize - 1)) != 0) {
      throw file.corruption(String.format(
          "Cluster allocation offset %s unaligned (L2 offset: %s, L2 index: %s)",
          MetadataCorruptionException.hex(host), MetadataCorruptionException.hex(l2Offset),
          MetadataCorruptionException.hex(l2Index)));
    }
  }
}
