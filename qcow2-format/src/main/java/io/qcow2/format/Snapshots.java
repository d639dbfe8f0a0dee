package io.qcow2.format;

import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.INACTIVE_L1;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE;

import io.qcow2.overlap.OverlapChecker;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Internal snapshots of one open image: create, list, apply and delete with QEMU's on-disk layout
 * and order of writes ({@code block/qcow2-snapshot.c}), and the overlap checker kept exact through
 * each of them (patches 7-11 of the 2014 overlap series).
 *
 * <p>Each operation starts from the file: the image commits and drops its cached L2 tables first,
 * and the table entries are re-read, so nothing here caches state between calls.
 */
final class Snapshots {
  /*
   * Refcounts follow QEMU's qcow2_update_snapshot_refcount: an L1 table's every L2 table and every
   * data (or preallocated zero) cluster gets +1/-1; compressed clusters are never COPIED.
   *
   * Crash consistency, as QEMU: create writes the L1 copy and the increments (flushed) before the
   * table that points at them; apply increments the snapshot's clusters before the active L1 is
   * overwritten and decrements the old ones after; delete writes the new table and switches the
   * header before anything is decremented; the old table is freed last. A crash leaks at worst.
   *
   * Deviation from QEMU, on purpose: when QEMU decrements a snapshot's L1 table (delete) it also
   * sets COPIED inside the snapshot's L2 tables and rewrites the snapshot's L1 table. qemu-img
   * check only looks at COPIED in the active tables, and writing inactive tables is what
   * overlap-check=all forbids, so decrements leave inactive tables alone, and COPIED is refreshed
   * in the active tables after apply and delete (QEMU does that refresh too, with addend 0).
   */
  private final Qcow2Image image;
  private final Header header;
  private final HostFile file;
  private final Refcounts refcounts;
  private final OverlapChecker checker;
  private final int clusterBits;
  private final long clusterSize;

  Snapshots(Qcow2Image image) {
    this.image = image;
    this.header = image.header();
    this.file = image.hostFile();
    this.refcounts = image.refcounts();
    this.checker = file.checker;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
  }

  List<SnapshotInfo> list() throws IOException {
    List<SnapshotInfo> infos = new ArrayList<>();
    for (SnapshotTable.Entry e : entries()) {
      infos.add(e.info());
    }
    return infos;
  }

  private List<SnapshotTable.Entry> entries() throws IOException {
    return new ArrayList<>(SnapshotTable.read(file, image.snapshots(), header.size));
  }

  // -------------------------------------------------------------------------------------------
  // Create (qcow2_snapshot_create)

  SnapshotInfo create(String name) throws IOException {
    List<SnapshotTable.Entry> entries = entries();
    checkNewName(name, entries);
    if (entries.size() >= SnapshotTable.MAX_SNAPSHOTS) {
      throw new Qcow2Exception(String.format(
          "Cannot create snapshot '%s': the image already has the maximum of %d snapshots",
          name, SnapshotTable.MAX_SNAPSHOTS));
    }
    String id = newId(entries);
    long now = System.currentTimeMillis();
    SnapshotTable.Entry draft = new SnapshotTable.Entry(0, 0, id, name, now / 1000,
        (now % 1000) * 1_000_000, 0, 0, header.size, 0, new byte[0]);
    List<SnapshotTable.Entry> grown = new ArrayList<>(entries);
    grown.add(draft);
    // Refuse a table over QEMU's limits before anything is allocated.
    SnapshotTable.encode(grown);

    image.syncForSnapshots();
    long[] l1 = image.activeL1Live();
    checkIncrement(l1, "create snapshot '" + name + "'");
    long l1Clusters = clustersFor(l1.length * 8L);
    long l1Offset = 0;
    if (l1.length > 0) {
      l1Offset = refcounts.allocate(l1Clusters);
      refcounts.flush();
      byte[] raw = new byte[(int) (l1Clusters << clusterBits)];
      ByteBuffer copy = ByteBuffer.wrap(raw);
      for (long e : l1) {
        // COPIED means "refcount 1", which stops being true for every table the snapshot shares.
        copy.putLong(e & ~Qcow2Image.COPIED);
      }
      // A fresh cluster: it must overlap nothing (QEMU checks with no type ignored).
      file.write(l1Offset, raw, 0, raw.length, 0);
      // Patch 10: the copy is an inactive L1 table from now on; patch 11: its L2 tables are
      // inactive L2 tables.
      enter(l1Offset, l1Clusters, INACTIVE_L1.mask());
      for (long e : l1) {
        long l2 = e & Qcow2Image.L1_OFFSET_MASK;
        if (l2 != 0) {
          enter(l2, 1, INACTIVE_L2.mask());
        }
      }
    }
    // Increments on disk before the table that points at the new L1 copy.
    updateRefcounts(l1, true, +1);
    refcounts.flush();
    file.channel.force(false);

    SnapshotTable.Entry entry = new SnapshotTable.Entry(l1Offset, l1.length, id, name,
        draft.dateSeconds(), draft.dateNanos(), 0, 0, header.size, 0, new byte[0]);
    entries.add(entry);
    writeTable(entries);
    return entry.info();
  }

  private static void checkNewName(String name, List<SnapshotTable.Entry> entries) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("Snapshot name must not be empty");
    }
    int bytes = name.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > SnapshotTable.MAX_NAME_BYTES) {
      throw new IllegalArgumentException(String.format(
          "Snapshot name is %d bytes long; the maximum is %d", bytes, SnapshotTable.MAX_NAME_BYTES));
    }
    if (name.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("Snapshot name must not contain NUL characters");
    }
    for (SnapshotTable.Entry e : entries) {
      if (e.name().equals(name) || e.id().equals(name)) {
        throw new IllegalArgumentException(String.format(
            "Snapshot '%s' already exists (id %s, name '%s')", name, e.id(), e.name()));
      }
    }
  }

  /** QEMU's find_new_snapshot_id: one more than the largest numeric id. */
  private static String newId(List<SnapshotTable.Entry> entries) throws Qcow2Exception {
    long max = 0;
    for (SnapshotTable.Entry e : entries) {
      try {
        max = Math.max(max, Long.parseLong(e.id()));
      } catch (NumberFormatException ignored) {
        // Ids that are not numbers do not take part, as in QEMU (strtoul gives 0).
      }
    }
    String id = Long.toString(max + 1);
    if (id.length() > SnapshotTable.MAX_ID_BYTES) {
      throw new Qcow2Exception("No snapshot id left after " + max);
    }
    return id;
  }

  // -------------------------------------------------------------------------------------------
  // Apply (qcow2_snapshot_goto)

  void apply(String idOrName) throws IOException {
    List<SnapshotTable.Entry> entries = entries();
    SnapshotTable.Entry sn = entries.get(find(entries, idOrName));
    long newSize = sn.diskSize();
    if (newSize < 0 || Header.l1EntriesFor(newSize, clusterBits) > Math.max(sn.l1Size(),
        image.activeL1Live().length)) {
      throw new CorruptImageException(String.format(
          "Snapshot %s ('%s') has disk size %d, which its %d-entry L1 table cannot map",
          sn.id(), sn.name(), newSize, sn.l1Size()));
    }
    image.syncForSnapshots();
    // Patch 7: growing moves the active L1 table (the engine removes and enters ACTIVE_L1).
    image.ensureL1Entries(sn.l1Size());
    image.syncForSnapshots();

    long[] current = image.activeL1Live().clone();
    long[] snapshotL1 = readL1(sn.l1Offset(), sn.l1Size());
    long[] next = Arrays.copyOf(snapshotL1, current.length);
    for (int i = 0; i < next.length; i++) {
      // Every table gains a reference below, so none keeps refcount 1 until the refresh.
      next[i] &= ~Qcow2Image.COPIED;
    }
    checkIncrement(snapshotL1, "apply snapshot '" + sn.name() + "'");

    // The snapshot's clusters gain the active L1's reference before it points at them.
    updateRefcounts(snapshotL1, false, +1);
    refcounts.flush();
    file.channel.force(false);
    writeActiveL1(next);
    file.channel.force(false);

    // Patch 8: the old active L2 tables stop being active as the active L1 is processed. The
    // engine's view switches first, so that nothing the decrements free is still seen as active.
    image.replaceActiveL1(next);
    updateRefcounts(current, true, -1);
    for (long e : next) {
      long l2 = e & Qcow2Image.L1_OFFSET_MASK;
      if (l2 != 0) {
        enter(l2, 1, ACTIVE_L2.mask());
      }
    }
    // QCOW_OFLAG_COPIED in the new active tables, as QEMU (addend 0).
    updateRefcounts(next, true, 0);
    if (header.size != newSize) {
      header.size = newSize;
      image.writeHeaderNow();
    }
    refcounts.flush();
    image.syncForSnapshots();
    file.channel.force(false);
  }

  // -------------------------------------------------------------------------------------------
  // Delete (qcow2_snapshot_delete)

  void delete(String idOrName) throws IOException {
    List<SnapshotTable.Entry> entries = entries();
    SnapshotTable.Entry sn = entries.remove(find(entries, idOrName));
    image.syncForSnapshots();
    long[] snapshotL1 = readL1(sn.l1Offset(), sn.l1Size());
    checkL2Offsets(snapshotL1, "delete snapshot '" + sn.name() + "'");

    // The snapshot leaves the table (and the header points at the new one) before any refcount drops.
    writeTable(entries);
    long l1Clusters = clustersFor(sn.l1Size() * 8L);
    if (sn.l1Size() > 0) {
      // Patch 10.
      remove(sn.l1Offset(), l1Clusters, INACTIVE_L1.mask());
    }
    updateRefcounts(snapshotL1, false, -1);
    if (sn.l1Size() > 0) {
      refcounts.update(sn.l1Offset() >>> clusterBits, l1Clusters, -1);
    }
    updateRefcounts(image.activeL1Live(), true, 0);
    refcounts.flush();
    image.syncForSnapshots();
    file.channel.force(false);
  }

  /** Index of the snapshot with this id, else the first with this name (QEMU's lookup order). */
  private static int find(List<SnapshotTable.Entry> entries, String idOrName) {
    for (int i = 0; i < entries.size(); i++) {
      if (entries.get(i).id().equals(idOrName)) {
        return i;
      }
    }
    for (int i = 0; i < entries.size(); i++) {
      if (entries.get(i).name().equals(idOrName)) {
        return i;
      }
    }
    throw new IllegalArgumentException("Can't find the snapshot '" + idOrName + "'");
  }

  // -------------------------------------------------------------------------------------------
  // Shared steps

  /**
   * QEMU's qcow2_update_snapshot_refcount over the L1 table {@code l1}: adds {@code addend} to the
   * refcount of every L2 table and data cluster it references. A +1 clears COPIED in the L2
   * tables it walks; over the active table ({@code active}) with {@code addend >= 0} COPIED ends up
   * set exactly where the refcount is 1, in the L2 tables and the active L1 (written back here).
   *
   * <p>Overlap bookkeeping on decrements: for the active L1 the L2 tables stop being active (patch
   * 8, with its fix: only when the active L1 is processed). For a snapshot's L1 (patch 11) an L2
   * table stops being inactive when its refcount reaches 0, or reaches 1 while the active L1
   * references it (then that is its only reference); at 1 without the active L1, or above 1,
   * another snapshot still references it. Whether the table is active is taken from the active L1
   * itself rather than from the checker, so the rule holds in every overlap-check mode.
   */
  private void updateRefcounts(long[] l1, boolean active, int addend) throws IOException {
    // After a +1 no refcount is 1, so COPIED only ever goes away; QEMU clears it in every table
    // it walks, which closes apply's crash window for flags a QEMU delete left in a snapshot's
    // tables. Addend 0 (active only) sets it where the refcount is 1.
    boolean rewrite = addend > 0 || (active && addend == 0);
    boolean rewriteL1 = active && addend >= 0;
    Set<Long> activeL2 = active ? Set.of() : activeL2Offsets();
    long[] newL1 = rewriteL1 ? l1.clone() : null;
    boolean l1Modified = false;
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = l1[i] & Qcow2Image.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      checkL2Aligned(l2Offset, i);
      long[] l2 = image.readL2Table(l2Offset);
      boolean l2Modified = false;
      for (int j = 0; j < l2.length; j++) {
        long entry = l2[j];
        long updated = entry & ~Qcow2Image.COPIED;
        if ((entry & Qcow2Image.COMPRESSED) != 0) {
          if (addend != 0) {
            long[] range = compressedClusters(entry);
            refcounts.update(range[0], range[1], addend);
          }
        } else {
          long host = entry & Qcow2Image.L2_OFFSET_MASK;
          if (host != 0) {
            checkClusterAligned(host, l2Offset, j);
            if (addend != 0) {
              refcounts.update(host >>> clusterBits, 1, addend);
            }
            if (rewrite && refcounts.get(host >>> clusterBits) == 1) {
              updated |= Qcow2Image.COPIED;
            }
          }
        }
        if (rewrite && updated != entry) {
          l2[j] = updated;
          l2Modified = true;
        }
      }
      if (l2Modified) {
        // Refcounts first: COPIED must never be on disk for a cluster whose refcount is not 1.
        refcounts.flush();
        byte[] raw = new byte[l2.length * 8];
        ByteBuffer.wrap(raw).asLongBuffer().put(l2);
        // A table the L1 being walked references: it is an L2 table, active, inactive or both
        // (create enters INACTIVE_L2 before these flags are cleared, as the series does).
        file.write(l2Offset, raw, 0, raw.length, ACTIVE_L2.mask() | INACTIVE_L2.mask());
      }
      if (addend < 0) {
        // The table leaves the checker before its refcount drops: a refcount reaching 0 on a
        // structure the checker still protects is corruption (Refcounts.update).
        long before = refcounts.get(l2Offset >>> clusterBits);
        long after = before == 0 ? 0 : before - 1;
        if (active) {
          remove(l2Offset, 1, ACTIVE_L2.mask());
        } else if (after == 0 || (after == 1 && activeL2.contains(l2Offset))) {
          remove(l2Offset, 1, INACTIVE_L2.mask());
        }
      }
      if (addend != 0) {
        refcounts.update(l2Offset >>> clusterBits, 1, addend);
      }
      long refcount = refcounts.get(l2Offset >>> clusterBits);
      if (rewriteL1) {
        long e = refcount == 1 ? l2Offset | Qcow2Image.COPIED : l2Offset;
        if (e != l1[i]) {
          newL1[i] = e;
          l1Modified = true;
        }
      }
    }
    if (l1Modified) {
      refcounts.flush();
      writeActiveL1(newL1);
      image.replaceActiveL1(newL1);
    }
  }

  /**
   * Fails before anything changes if a +1 over {@code l1} would overflow a refcount (images with
   * narrow refcounts, e.g. refcount_bits=1, cannot share clusters); QEMU would stop half-way.
   */
  private void checkIncrement(long[] l1, String what) throws IOException {
    checkL2Offsets(l1, what);
    long max = RefcountEntries.max(refcounts.order());
    for (long l1Entry : l1) {
      long l2Offset = l1Entry & Qcow2Image.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      checkBelowMax(l2Offset >>> clusterBits, max, what);
      for (long entry : image.readL2Table(l2Offset)) {
        if ((entry & Qcow2Image.COMPRESSED) != 0) {
          long[] range = compressedClusters(entry);
          for (long c = range[0]; c < range[0] + range[1]; c++) {
            checkBelowMax(c, max, what);
          }
        } else if ((entry & Qcow2Image.L2_OFFSET_MASK) != 0) {
          checkBelowMax((entry & Qcow2Image.L2_OFFSET_MASK) >>> clusterBits, max, what);
        }
      }
    }
  }

  /**
   * L1 entries come from the file: every L2 table must be cluster-aligned and inside the file
   * before any refcount changes (a hostile offset would otherwise grow the refcount structures).
   */
  private void checkL2Offsets(long[] l1, String what) throws IOException {
    long fileSize = file.size();
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = l1[i] & Qcow2Image.L1_OFFSET_MASK;
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

  private Set<Long> activeL2Offsets() {
    Set<Long> offsets = new HashSet<>();
    for (long e : image.activeL1Live()) {
      long l2 = e & Qcow2Image.L1_OFFSET_MASK;
      if (l2 != 0) {
        offsets.add(l2);
      }
    }
    return offsets;
  }

  /** Writes {@code l1} over the active L1 table in place (same size). */
  private void writeActiveL1(long[] l1) throws IOException {
    byte[] raw = new byte[l1.length * 8];
    ByteBuffer.wrap(raw).asLongBuffer().put(l1);
    file.write(header.l1Offset, raw, 0, raw.length, ACTIVE_L1.mask());
  }

  /**
   * QEMU's qcow2_write_snapshots: the new table goes to new clusters, the header is switched to it,
   * then the old table is freed (patch 9: the old range is removed and the new one entered).
   */
  private void writeTable(List<SnapshotTable.Entry> entries) throws IOException {
    byte[] table = SnapshotTable.encode(entries);
    long clusters = clustersFor(table.length);
    long offset = 0;
    if (table.length > 0) {
      offset = refcounts.allocate(clusters);
      refcounts.flush();
      file.write(offset, table, 0, table.length, 0);
    }
    file.channel.force(false);
    long oldOffset = header.snapshotsOffset;
    int oldCount = header.snapshotCount;
    long oldClusters = oldCount == 0 ? 0 : clustersFor(Snapshot.tableLength(image.snapshots(), oldOffset, file.channel));
    // The header fields and the table the view shows change together, so a scanning strategy
    // never sees the new offset with the old entries (e.g. offset 0 with the old length).
    List<Snapshot> parsed = entries.isEmpty() ? List.of()
        : Snapshot.readTable(file.channel, offset, entries.size(), clusterBits);
    long length = Snapshot.tableLength(parsed, offset, file.channel);
    header.snapshotCount = entries.size();
    header.snapshotsOffset = offset;
    image.replaceSnapshots(parsed, length);
    image.writeHeaderNow();
    file.channel.force(false);
    if (oldClusters > 0) {
      remove(oldOffset, oldClusters, SNAPSHOT_TABLE.mask());
      refcounts.update(oldOffset >>> clusterBits, oldClusters, -1);
    }
    if (clusters > 0) {
      enter(offset, clusters, SNAPSHOT_TABLE.mask());
    }
    refcounts.flush();
  }

  private long[] readL1(long offset, int entries) throws IOException {
    return entries == 0 ? new long[0] : image.readTableFromFile(offset, entries);
  }

  /** Clusters {first, count} a compressed entry's data touches. */
  private long[] compressedClusters(long entry) {
    int shift = 62 - (clusterBits - 8);
    long hostOffset = entry & ((1L << shift) - 1);
    long sectors = ((entry >>> shift) & ((1L << (clusterBits - 8)) - 1)) + 1;
    long start = hostOffset & ~511L;
    long end = start + sectors * 512;
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

  private long clustersFor(long bytes) {
    return (bytes + clusterSize - 1) >>> clusterBits;
  }

  private void enter(long offset, long clusters, int types) {
    if (checker != null) {
      checker.enter(offset, clusters, types);
    }
  }

  private void remove(long offset, long clusters, int types) {
    if (checker != null) {
      checker.remove(offset, clusters, types);
    }
  }
}
