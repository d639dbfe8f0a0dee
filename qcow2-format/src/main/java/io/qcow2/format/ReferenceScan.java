package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * QEMU 7.2's {@code calculate_refcounts()} (block/qcow2-refcount.c): walks every table the image
 * has (header, active L1 and its L2 tables and data, each snapshot's, the snapshot table, the
 * refcount table, bitmaps, refcount blocks) and counts the references to each host cluster in
 * {@link ClusterReferences}, reporting what is malformed on the way. The active tables also give
 * the allocated, compressed and fragmented counts of the report.
 *
 * <p>A repairing scan fixes the two things QEMU fixes during the walk: a misaligned preallocated
 * zero cluster (made a plain zero cluster) and a refcount block past the end of the file (the file
 * grows to hold it).
 */
final class ReferenceScan {
  /** Bits of an L1 entry that must be zero (qcow2.txt "Cluster mapping"). */
  static final long L1_RESERVED_MASK = 0x7f00_0000_0000_01ffL;
  /** Bits of a standard (not compressed) L2 entry that must be zero. */
  static final long L2_RESERVED_MASK = 0x3f00_0000_0000_01feL;

  private final CheckFile file;
  private final CheckedHeader header;
  private final StoredRefcounts stored;
  private final ClusterReferences references;
  private final CheckReport report;
  private final long clusterSize;
  private final int clusterBits;

  long allocatedClusters;
  long fragmentedClusters;
  long compressedClusters;

  ReferenceScan(CheckFile file, CheckedHeader header, StoredRefcounts stored,
      ClusterReferences references, CheckReport report) {
    this.file = file;
    this.header = header;
    this.stored = stored;
    this.references = references;
    this.report = report;
    this.clusterSize = header.clusterSize;
    this.clusterBits = header.clusterBits;
  }

  /** Counts every reference; {@code repairing} is what it may fix on the way, or null. */
  void run(long[] activeL1, BitmapCheck bitmaps, RepairMode repairing) throws IOException {
    references.increment(0, clusterSize, MetadataType.MAIN_HEADER);
    references.markTypes(header.l1Offset, (long) header.l1Size * 8, MetadataType.ACTIVE_L1);
    checkL1(header.l1Offset, activeL1, Integer.toUnsignedLong(header.l1Size), true, repairing);

    long snapshotsSize = checkSnapshots(repairing);
    if (report.walkFailed) {
      return;
    }
    references.increment(header.snapshotsOffset, snapshotsSize, MetadataType.SNAPSHOT_TABLE);
    references.increment(stored.tableOffset(), (long) stored.tableSize() * 8,
        MetadataType.REFCOUNT_TABLE);
    bitmaps.countReferences(file, references, report);
    if (!report.walkFailed) {
      checkRefcountBlocks(repairing);
    }
  }

  /** {@code check_refcounts_l1}: the table itself was marked by the caller for its type. */
  private void checkL1(long offset, long[] l1, long entries, boolean active,
      RepairMode repairing) throws IOException {
    references.increment(offset, entries * 8, null);
    for (int i = 0; i < l1.length && !report.walkFailed; i++) {
      long entry = l1[i];
      if (entry == 0) {
        continue;
      }
      if ((entry & L1_RESERVED_MASK) != 0) {
        report.corruption("ERROR found L1 entry with reserved bits set: %x", entry);
      }
      long l2Offset = entry & TableEntry.L1_OFFSET_MASK;
      // With only flag bits set QEMU still counts an "L2 table" at offset 0, the header cluster;
      // its overlap check skips it.
      references.increment(l2Offset, clusterSize, l2Offset == 0 ? null
          : active ? MetadataType.ACTIVE_L2 : MetadataType.INACTIVE_L2);
      if ((l2Offset & (clusterSize - 1)) != 0) {
        report.corruption(
            "ERROR l2_offset=%x: Table is not cluster aligned; L1 entry corrupted", l2Offset);
      }
      checkL2(l2Offset, active, repairing);
    }
  }

  /**
   * {@code check_refcounts_l2}: reserved bits, alignment, references to data and compressed
   * clusters, and for the active table the allocated, compressed and fragmented counts.
   */
  private void checkL2(long l2Offset, boolean active, RepairMode repairing) throws IOException {
    long[] l2 = file.readL2(l2Offset, (int) (clusterSize / 8));
    // Where the next data cluster must be to be contiguous; QEMU 7.2 restarts for every table.
    long nextContiguous = 0;
    for (int i = 0; i < l2.length && !report.walkFailed; i++) {
      long entry = l2[i];
      if ((entry & TableEntry.COMPRESSED) != 0) {
        if ((entry & TableEntry.COPIED) != 0) {
          report.corruption("ERROR: coffset=0x%x: copied flag must never be set for "
              + "compressed clusters", CompressedDescriptor.hostOffset(entry, clusterBits));
          entry &= ~TableEntry.COPIED;
        }
        references.increment(CompressedDescriptor.hostOffset(entry, clusterBits),
            CompressedDescriptor.compressedBytes(entry, clusterBits), null);
        if (active) {
          allocatedClusters++;
          compressedClusters++;
          fragmentedClusters++;
        }
        continue;
      }
      if ((entry & L2_RESERVED_MASK) != 0) {
        report.corruption("ERROR found l2 entry with reserved bits set: %x", entry);
      }
      long offset = entry & TableEntry.L2_OFFSET_MASK;
      if (offset == 0) {
        continue;
      }
      // QCOW2_CLUSTER_NORMAL or QCOW2_CLUSTER_ZERO_ALLOC
      boolean zero = (entry & TableEntry.ZERO_FLAG) != 0;
      if ((offset & (clusterSize - 1)) != 0) {
        if (zero && repairing == RepairMode.ALL) {
          if (!repairMisalignedZeroCluster(offset, l2Offset + 8L * i, active)) {
            return;
          }
          continue;
        }
        report.corruption(zero
            ? "ERROR offset=%x: Preallocated cluster is not properly aligned; L2 entry corrupted."
            : "ERROR offset=%x: Data cluster is not properly aligned; L2 entry corrupted.",
            offset);
      }
      if (active) {
        allocatedClusters++;
        if (nextContiguous != 0 && offset != nextContiguous) {
          fragmentedClusters++;
        }
        nextContiguous = offset + clusterSize;
      }
      references.increment(offset, clusterSize, null);
    }
  }

  /**
   * A preallocated zero cluster holds no data: it becomes a plain zero cluster. False if the
   * write was refused, which ends the walk.
   */
  private boolean repairMisalignedZeroCluster(long offset, long entryOffset, boolean active)
      throws IOException {
    report.message("Repairing offset=%x: Preallocated cluster is not properly "
        + "aligned; L2 entry corrupted.", offset);
    int ignored = (active ? MetadataType.ACTIVE_L2 : MetadataType.INACTIVE_L2).mask();
    if (!references.overlapFree(entryOffset, 8, ignored)) {
      report.repairFailed("ERROR: Overlap check failed");
      report.corruptions++;
      report.walkFailed = true;
      return false;
    }
    file.writeLong(TableEntry.ZERO_FLAG, entryOffset);
    report.corruptionsFixed++;
    return true;
  }

  /** A snapshot table entry as far as the check uses it. */
  private record SnapshotL1(String id, String name, long l1Offset, long l1Size) {}

  /**
   * Reads the snapshot table as {@code qcow2_do_read_snapshots} does for a check (past the end of
   * the file it reads zeros), then walks each snapshot's L1 table. Returns the table's length.
   */
  private long checkSnapshots(RepairMode repairing) throws IOException {
    List<SnapshotL1> snapshots = new ArrayList<>(Math.min(header.snapshotCount, 1024));
    long offset = header.snapshotsOffset;
    for (int i = 0; i < header.snapshotCount; i++) {
      offset = (offset + 7) & ~7L;
      Snapshot.Head head = Snapshot.Head.decode(file.read(offset, Snapshot.HEADER_SIZE).array());
      offset += Snapshot.HEADER_SIZE;
      if (head.extraSize() > Snapshot.MAX_EXTRA_DATA) {
        report.walkFailed("ERROR Too much extra metadata in snapshot table entry %d", i);
        return 0;
      }
      offset += head.extraSize();
      String id = cString(file.read(offset, head.idSize()).array());
      offset += head.idSize();
      String name = cString(file.read(offset, head.nameSize()).array());
      offset += head.nameSize();
      if (offset - header.snapshotsOffset > Snapshot.MAX_TABLE_BYTES) {
        report.walkFailed("ERROR Snapshot table is too big");
        return 0;
      }
      snapshots.add(new SnapshotL1(id, name, head.l1Offset(), head.l1Size()));
      if (header.version >= 3 && head.extraSize() < 16) {
        // The spec makes vm_state_size_large and disk_size mandatory in version 3.
        report.corruption("ERROR snapshot table entry %d is incomplete", i);
      }
    }
    for (SnapshotL1 s : snapshots) {
      if (report.walkFailed) {
        break;
      }
      checkSnapshotL1(s.id(), s.name(), s.l1Offset(), s.l1Size(), repairing);
    }
    return offset - header.snapshotsOffset;
  }

  private void checkSnapshotL1(String id, String name, long l1Offset, long l1Size,
      RepairMode repairing) throws IOException {
    if ((l1Offset & (clusterSize - 1)) != 0) {
      report.corruption("ERROR snapshot %s (%s) l1_offset=%#x: L1 table is not cluster "
          + "aligned; snapshot table entry corrupted", id, name, l1Offset);
      return;
    }
    if (l1Size > Header.MAX_L1_BYTES / 8) {
      report.corruption("ERROR snapshot %s (%s) l1_size=%#x: L1 table is too large; "
          + "snapshot table entry corrupted", id, name, l1Size);
      return;
    }
    references.markTypes(l1Offset, l1Size * 8, MetadataType.INACTIVE_L1);
    checkL1(l1Offset, file.readTable(l1Offset, (int) l1Size), l1Size, false, repairing);
  }

  /** {@code check_refblocks}; {@code repairing} is what it may fix, or null. */
  private void checkRefcountBlocks(RepairMode repairing) throws IOException {
    for (int i = 0; i < stored.tableSize(); i++) {
      long entry = stored.tableEntry(i);
      long offset = entry & StoredRefcounts.OFFSET_MASK;
      if ((entry & StoredRefcounts.RESERVED_MASK) != 0) {
        report.corruption("ERROR refcount table entry %d has reserved bits set", i);
        report.rebuild = true;
        continue;
      }
      if ((offset & (clusterSize - 1)) != 0) {
        report.corruption(
            "ERROR refcount block %d is not cluster aligned; refcount table entry corrupted", i);
        report.rebuild = true;
        continue;
      }
      long cluster = offset >>> clusterBits;
      if (cluster >= references.clusters()) {
        if (repairing != RepairMode.ALL) {
          report.corruption("ERROR refcount block %d is outside image", i);
          continue;
        }
        // QEMU grows the file to hold the block: a block of zeros, found wrong by the compare.
        report.message("Repairing refcount block %d is outside image", i);
        if (offset > Long.MAX_VALUE - clusterSize || !references.growFile(offset + clusterSize)) {
          report.corruptions++;
          report.rebuild = true;
          report.message("ERROR could not resize image: refcount block at offset 0x%x is too far"
              + " past the end of the file (%d bytes) to grow the file to it", offset, file.length());
          continue;
        }
        report.corruptionsFixed++;
        references.increment(offset, clusterSize, MetadataType.REFCOUNT_BLOCK);
        continue;
      }
      if (offset != 0) {
        references.increment(offset, clusterSize, MetadataType.REFCOUNT_BLOCK);
        long count = references.count(cluster);
        if (count != 1) {
          report.corruption("ERROR refcount block %d refcount=%d", i, count);
          report.rebuild = true;
        }
      }
    }
  }

  /** The bytes up to the first NUL, as QEMU prints the id and name it keeps as C strings. */
  private static String cString(byte[] bytes) {
    int length = 0;
    while (length < bytes.length && bytes[length] != 0) {
      length++;
    }
    return new String(bytes, 0, length, StandardCharsets.UTF_8);
  }
}
