package io.qcow2.format;

import static io.qcow2.format.ActiveTables.kind;
import static io.qcow2.format.TableEntry.COPIED;
import static io.qcow2.format.TableEntry.L2_OFFSET_MASK;
import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Where the active state's clusters come from and where they go, over {@link Refcounts} (first
 * fit): data clusters, L2 tables (allocated on demand, copied on write when shared with a
 * snapshot), the L1 table's growth; frees are queued, applied by {@link MetadataCommit} after the
 * pointers are gone. New and retired tables enter and leave the overlap checker here.
 */
final class ClusterAllocator {
  private final HostFile file;
  private final Header header;
  private final ActiveTables tables;
  private final Refcounts refcounts;
  private final MetadataCommit commits;
  private final int clusterBits;
  private final int clusterSize;

  ClusterAllocator(HostFile file, Header header, ActiveTables tables, Refcounts refcounts,
      MetadataCommit commits) {
    this.file = file;
    this.header = header;
    this.tables = tables;
    this.refcounts = refcounts;
    this.commits = commits;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
  }

  /** The first of {@code count} contiguous free clusters, now referenced once (first fit). */
  long allocate(long count) throws IOException {
    return refcounts.allocate(count);
  }

  /** Space for compressed clusters packed byte after byte into host clusters (one request's). */
  CompressedSpace compressedSpace() {
    return new CompressedSpace(refcounts, clusterBits);
  }

  /**
   * Whether this image alone references the cluster at {@code offset}, so it may be written in
   * place: refcount 1, or 0 on a corrupt image (as QEMU, which trusts COPIED there, writes in place
   * and lets the overlap check catch an allocation that lands on the cluster).
   */
  boolean owned(long offset) throws IOException {
    return Long.compareUnsigned(refcounts.get(offset >>> clusterBits), 1) <= 0;
  }

  /** Queues the release of whatever host clusters an L2 entry points at. */
  void freeEntry(long entry) {
    switch (kind(entry)) {
      case COMPRESSED: {
        refcounts.deferFree(CompressedDescriptor.firstSector(entry, clusterBits),
            CompressedDescriptor.sectors(entry, clusterBits) * 512);
        break;
      }
      default: {
        long host = entry & L2_OFFSET_MASK;
        // QEMU leaves an unaligned cluster alone ("Cannot free unaligned cluster", a non-fatal
        // corruption event): which cluster it meant is unknown, so it leaks rather than freeing
        // the wrong one.
        if (host != 0 && tables.aligned(host)) {
          refcounts.deferFree(host, clusterSize);
        }
      }
    }
  }

  /**
   * The offset of an L2 table this image alone owns for {@code l1Index}: allocated when absent,
   * copied when the L1 entry lacks COPIED or the table is shared (refcount above 1).
   */
  long l2ForWrite(int l1Index) throws IOException {
    long l2Offset = tables.l2Offset(l1Index);
    // In place only when the L1 entry says COPIED, as QEMU decides, and the refcount agrees: a
    // missing flag is never repaired from a refcount, which a hostile image can forge (a refcount
    // table entry pointing at the header reads as refcount 1 for clusters a snapshot shares).
    if (l2Offset != 0 && (tables.l1()[l1Index] & COPIED) != 0 && owned(l2Offset)) {
      // A dirty table may be new and not written yet; a clean one came from the file, perhaps
      // from past its end (reads see zeros there, as in QEMU: map or a read cached it).
      if (!tables.isDirty(l2Offset)) {
        file.checkInside(l2Offset, clusterSize, "L1 entry", l1Index);
      }
      return l2Offset;
    }
    long[] copied = null;
    if (l2Offset != 0) {
      // Copy on write of a shared L2 table: its data clusters keep their refcounts (each is now
      // referenced by one more table). The entries are copied as they are, flags included, as
      // QEMU does: a consistent shared table has no COPIED entry, and a COPIED entry in a corrupt
      // one is still written in place only where its refcount is 1 (WritePath), so that a
      // hostile entry pointing at metadata meets the overlap check as it does in QEMU.
      copied = tables.l2Table(l2Offset).clone();
    }
    long newOffset = allocate(1);
    if (newOffset == 0) {
      throw file.corruption("Preventing invalid allocation of L2 table at offset 0");
    }
    // A new table's cluster must hold no metadata at all. Checked now, before the table enters the
    // checker: its later write ignores active L2 tables, as in QEMU, so a forged refcount that
    // hands out a live table would let the new one overwrite it unseen (QEMU loses that table);
    // and any other structure there is named as QEMU names it when it writes the table.
    file.checkWrite(newOffset, clusterSize, 0);
    file.tracker.enter(newOffset, 1, ACTIVE_L2.mask());
    tables.addL2Table(newOffset, copied);
    if (l2Offset != 0) {
      retireL2Table(l2Offset);
    }
    tables.setL1(l1Index, newOffset | COPIED);
    return newOffset;
  }

  /**
   * Takes the L2 table of L1 entry {@code l1Index} out of the active state: one reference less for
   * each cluster it points at and for the table itself, which leaves the checker's active L2
   * tables (and is freed unless a snapshot still has it).
   */
  void dropL2Table(int l1Index) throws IOException {
    long l2Offset = tables.l2Offset(l1Index);
    if (l2Offset == 0) {
      return;
    }
    file.checkInside(l2Offset, clusterSize, "L1 entry", l1Index);
    boolean owned = owned(l2Offset);
    for (long entry : tables.l2Table(l2Offset)) {
      freeEntry(entry);
    }
    retireL2Table(l2Offset);
    tables.setL1(l1Index, 0);
    if (owned) {
      tables.forgetL2Table(l2Offset);
    }
  }

  /**
   * An L1 entry stops pointing at the L2 table at {@code l2Offset}: the table leaves the checker
   * unless another entry still points at it (a hostile image), and its reference is freed; freeing
   * a table still in use then meets the corruption check of a metadata free, as with legacy.
   */
  private void retireL2Table(long l2Offset) throws IOException {
    if (tables.releaseL2Reference(l2Offset)) {
      file.tracker.remove(l2Offset, 1, ACTIVE_L2.mask());
    }
    refcounts.deferFree(l2Offset, clusterSize);
  }

  /** Grows the active L1 table to at least {@code entries} entries (moving it if needed). */
  void ensureL1Entries(int entries) throws IOException {
    if (entries > tables.l1().length) {
      growL1(entries);
    }
  }

  /** Moves the active L1 table to new clusters holding {@code entries} entries (resize). */
  void growL1(int entries) throws IOException {
    commits.commit();
    long oldOffset = header.l1Offset;
    long oldClusters = tables.clustersFor(tables.l1().length * 8L);
    long clusters = tables.clustersFor(entries * 8L);
    long offset = allocate(clusters);
    refcounts.flush();
    file.tracker.enter(offset, clusters, ACTIVE_L1.mask());
    long[] table = Arrays.copyOf(tables.l1(), entries);
    byte[] raw = new byte[Math.toIntExact(clusters << clusterBits)];
    ByteBuffer.wrap(raw).asLongBuffer().put(table);
    file.write(offset, raw, 0, raw.length, ACTIVE_L1.mask());
    tables.replaceL1(table);
    header.l1Offset = offset;
    header.l1Size = entries;
    commits.writeHeader();
    if (oldClusters > 0) {
      file.tracker.remove(oldOffset, oldClusters, ACTIVE_L1.mask());
      refcounts.deferFree(oldOffset, oldClusters << clusterBits);
    }
    commits.commit();
  }
}
