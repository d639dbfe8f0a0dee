package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * QEMU 7.2's {@code check_oflag_copied()}: in the active L1 table and its L2 tables, {@code
 * OFLAG_COPIED} must be set exactly where the stored refcount is 1. Repaired with {@link
 * RepairMode#ALL}, and with {@link RepairMode#LEAKS} when the refcounts were found or made right
 * (they decide the flags).
 */
final class CopiedFlagCheck {
  private CopiedFlagCheck() {}

  /** Checks (and, if {@code fix} allows, repairs) the flags of {@code activeL1}, updated in place. */
  static void run(CheckFile file, CheckedHeader header, long[] activeL1, StoredRefcounts stored,
      ClusterReferences references, CheckReport report, RepairMode fix) throws IOException {
    boolean repair = fix == RepairMode.ALL || (fix == RepairMode.LEAKS && report.checkErrors == 0
        && report.corruptions == 0 && report.leaks == 0);
    int entries = (int) (header.clusterSize / 8);
    for (int i = 0; i < activeL1.length; i++) {
      long l1Entry = activeL1[i];
      long l2Offset = l1Entry & TableEntry.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      long refcount = stored.get(l2Offset >>> header.clusterBits);
      if (refcount == StoredRefcounts.UNREADABLE) {
        continue;
      }
      if ((refcount == 1) != ((l1Entry & TableEntry.COPIED) != 0)) {
        report.message("%s OFLAG_COPIED L2 cluster: l1_index=%d l1_entry=%x refcount=%s",
            repair ? "Repairing" : "ERROR", i, l1Entry, Long.toUnsignedString(refcount));
        if (!repair) {
          report.corruptions++;
        } else {
          long fixed = refcount == 1 ? l1Entry | TableEntry.COPIED : l1Entry & ~TableEntry.COPIED;
          long entryOffset = header.l1Offset + 8L * i;
          if (!references.overlapFree(entryOffset, 8, MetadataType.ACTIVE_L1.mask())) {
            report.repairFailed("ERROR: Could not write L1 entry; metadata overlap check "
                + "failed: Input/output error");
            report.corruptions++;
            return;
          }
          file.writeLong(fixed, entryOffset);
          activeL1[i] = fixed;
          report.corruptionsFixed++;
        }
      }
      long[] l2 = file.readL2(l2Offset, entries);
      int dirty = 0;
      for (int j = 0; j < l2.length; j++) {
        long l2Entry = l2[j];
        long dataOffset = l2Entry & TableEntry.L2_OFFSET_MASK;
        if ((l2Entry & TableEntry.COMPRESSED) != 0 || dataOffset == 0) {
          continue;
        }
        long dataRefcount = stored.get(dataOffset >>> header.clusterBits);
        if (dataRefcount == StoredRefcounts.UNREADABLE) {
          continue;
        }
        if ((dataRefcount == 1) != ((l2Entry & TableEntry.COPIED) != 0)) {
          report.corruptions++;
          report.message("%s OFLAG_COPIED data cluster: l2_entry=%x refcount=%s",
              repair ? "Repairing" : "ERROR", l2Entry, Long.toUnsignedString(dataRefcount));
          if (repair) {
            l2[j] = dataRefcount == 1
                ? l2Entry | TableEntry.COPIED : l2Entry & ~TableEntry.COPIED;
            dirty++;
          }
        }
      }
      if (dirty > 0) {
        if (!references.overlapFree(l2Offset, l2.length * 8L, MetadataType.ACTIVE_L2.mask())) {
          report.repairFailed("ERROR: Could not write L2 table; metadata overlap check failed: "
              + "Input/output error");
          return;
        }
        ByteBuffer table = ByteBuffer.allocate(l2.length * 8);
        table.asLongBuffer().put(l2);
        file.write(table, l2Offset);
        report.corruptions -= dirty;
        report.corruptionsFixed += dirty;
      }
    }
  }
}
