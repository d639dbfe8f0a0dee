package io.qcow2.format;

import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.INACTIVE_L1;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE;

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
   * Refcounts as qemu-img check counts them (QEMU's qcow2_update_snapshot_refcount): an L1
   * table's every L2 table and every data (or preallocated zero) cluster counts once per L1 table
   * that reaches it; compressed clusters are never COPIED.
   *
   * Crash consistency, beyond QEMU: every operation writes its new tables to new clusters (a new
   * active L1 table; for create, a copy of each active L2 table not yet shared, the old active L1
   * and L2 tables becoming the snapshot's; for delete, a copy of each active L2 table whose COPIED
   * flags change), then copies of the refcount blocks whose counts the new active tables' COPIED
   * flags depend on, plus every increment, and a copy of the refcount table (RefcountShadow); one
   * header write switches the active L1 table, the snapshot table, the virtual size and the
   * refcount table together. Before it the new clusters are leaks; after it what nothing
   * references any more (the old tables, the old refcount blocks, the snapshot's own clusters) is
   * a leak until it is freed in place. QEMU updates refcounts and COPIED flags in place, in an
   * order where a crash leaves COPIED out of step with refcounts (qemu-img check: errors).
   *
   * Deviations from QEMU, on purpose: create copies the active L2 tables that are not shared yet
   * instead of sharing them (a later guest write to them needs no copy on write then); delete and
   * apply never write the snapshot's tables (qemu-img check ignores COPIED there, and writing
   * inactive tables is what overlap-check=all forbids), except that apply clears COPIED flags a
   * QEMU delete left in the snapshot's L2 tables while they are still inactive.
   */
  private final Header header;
  private final HostFile file;
  private final Refcounts refcounts;
  private final ActiveTables tables;
  private final LiveMetadata metadata;
  private final ClusterAllocator allocator;
  private final MetadataCommit commits;
  private final MetadataTracker tracker;
  private final SnapshotRefcounts counts;
  private final int clusterBits;
  private final long clusterSize;

  Snapshots(Header header, HostFile file, Refcounts refcounts, ActiveTables tables, LiveMetadata metadata,
      ClusterAllocator allocator, MetadataCommit commits) {
    this.header = header;
    this.file = file;
    this.refcounts = refcounts;
    this.tables = tables;
    this.metadata = metadata;
    this.allocator = allocator;
    this.commits = commits;
    this.counts = new SnapshotRefcounts(file, header, refcounts, tables);
    this.tracker = file.tracker;
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
    return new ArrayList<>(SnapshotTable.read(file, metadata.snapshots(), header.size));
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

    commits.syncToFile();
    long[] l1 = tables.l1().clone();
    counts.checkIncrement(l1, "create snapshot '" + name + "'");
    RefcountShadow shadow = new RefcountShadow(file, header, refcounts);
    // The active L1 table and its L2 tables become the snapshot's as they are; the active state
    // gets a new L1 table and its own copy of every L2 table it does not share yet (COPIED
    // cleared), so no active COPIED flag changes in place. Every data cluster gains the path
    // through the copy (or through the shared table).
    long[][] copies = new long[l1.length][];
    long[][] activeL2 = new long[l1.length][];
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = l1[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      long[] l2 = tables.readL2TableFromFile(l2Offset);
      activeL2[i] = l2;
      counts.addL2(shadow, l2Offset, l2, +1, true);
      if (refcounts.get(l2Offset >>> clusterBits) == 1) {
        copies[i] = l2.clone();
        for (int j = 0; j < l2.length; j++) {
          copies[i][j] &= ~TableEntry.COPIED;
        }
      } else {
        shadow.add(l2Offset >>> clusterBits, 1, +1);
        shadow.markActive(l2Offset >>> clusterBits, 1);
      }
    }
    checkRewrites(shadow, l1, activeL2);
    long oldL1Offset = header.l1Offset;
    long l1Clusters = clustersFor(l1.length * 8L);
    long[] newL1 = new long[l1.length];
    long newL1Offset = 0;
    if (l1.length > 0) {
      for (int i = 0; i < l1.length; i++) {
        if (copies[i] != null) {
          newL1[i] = refcounts.allocate(1) | TableEntry.COPIED;
        } else {
          newL1[i] = l1[i] & TableEntry.L1_OFFSET_MASK;
        }
      }
      newL1Offset = refcounts.allocate(l1Clusters);
      refcounts.flush();
      for (int i = 0; i < l1.length; i++) {
        if (copies[i] != null) {
          writeFresh(newL1[i] & TableEntry.L1_OFFSET_MASK, copies[i]);
        }
      }
      writeFresh(newL1Offset, newL1);
    }
    SnapshotTable.Entry entry = new SnapshotTable.Entry(l1.length > 0 ? oldL1Offset : 0,
        l1.length, id, name, draft.dateSeconds(), draft.dateNanos(), 0, 0, header.size, 0,
        new byte[0]);
    entries.add(entry);
    OldTable oldTable = currentTable();
    NewTable table = writeNewTable(entries);
    file.force(false);

    long activeL1Offset = newL1Offset;
    shadow.switchTo(() -> {
      if (l1.length > 0) {
        header.l1Offset = activeL1Offset;
        tables.replaceL1(newL1);
      }
      install(table);
    }, commits::writeHeader);
    if (l1.length > 0) {
      // Patch 10: the old active L1 is the snapshot's now; patch 11: so are its L2 tables.
      enter(newL1Offset, l1Clusters, ACTIVE_L1.mask());
      remove(oldL1Offset, l1Clusters, ACTIVE_L1.mask());
      enter(oldL1Offset, l1Clusters, INACTIVE_L1.mask());
      for (int i = 0; i < l1.length; i++) {
        long l2Offset = l1[i] & TableEntry.L1_OFFSET_MASK;
        if (l2Offset != 0) {
          enter(l2Offset, 1, INACTIVE_L2.mask());
          if (copies[i] != null) {
            remove(l2Offset, 1, ACTIVE_L2.mask());
            enter(newL1[i] & TableEntry.L1_OFFSET_MASK, 1, ACTIVE_L2.mask());
          }
        }
      }
    }
    replaceTableEvents(oldTable, table);
    shadow.finish();
    retire(oldTable);
    refcounts.flush();
    commits.syncToFile();
    file.force(false);
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
        tables.l1().length)) {
      throw new CorruptImageException(String.format(
          "Snapshot %s ('%s') has disk size %d, which its %d-entry L1 table cannot map",
          sn.id(), sn.name(), newSize, sn.l1Size()));
    }
    commits.syncToFile();
    // Patch 7: growing moves the active L1 table (the engine removes and enters ACTIVE_L1).
    allocator.ensureL1Entries(sn.l1Size());
    commits.syncToFile();

    long[] current = tables.l1().clone();
    long[] snapshotL1 = readL1(sn.l1Offset(), sn.l1Size());
    String what = "apply snapshot '" + sn.name() + "'";
    counts.checkIncrement(snapshotL1, what);
    counts.checkL2Offsets(current, what);
    RefcountShadow shadow = new RefcountShadow(file, header, refcounts);
    // The snapshot's L2 tables become active too (shared with the snapshot); the old active ones
    // lose the active path. A new active L1 table, switched with the refcounts in one header write.
    long[][] snapshotL2 = new long[snapshotL1.length][];
    for (int i = 0; i < snapshotL1.length; i++) {
      long l2Offset = snapshotL1[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset != 0) {
        snapshotL2[i] = tables.readL2TableFromFile(l2Offset);
        shadow.add(l2Offset >>> clusterBits, 1, +1);
        shadow.markActive(l2Offset >>> clusterBits, 1);
        counts.addL2(shadow, l2Offset, snapshotL2[i], +1, true);
      }
    }
    long[][] currentL2 = new long[current.length][];
    for (int i = 0; i < current.length; i++) {
      long l2Offset = current[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset != 0) {
        currentL2[i] = tables.readL2TableFromFile(l2Offset);
        shadow.add(l2Offset >>> clusterBits, 1, -1);
        shadow.retiring(l2Offset >>> clusterBits, 1, ACTIVE_L2.mask());
        counts.addL2(shadow, l2Offset, currentL2[i], -1, false);
      }
    }
    shadow.checkFrees();
    checkRewrites(shadow, current, currentL2);
    checkRewrites(shadow, snapshotL1, snapshotL2);
    long[] next = new long[current.length];
    for (int i = 0; i < snapshotL1.length && i < next.length; i++) {
      long l2Offset = snapshotL1[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      next[i] = l2Offset
          | (shadow.finalRefcount(l2Offset >>> clusterBits) == 1 ? TableEntry.COPIED : 0);
      // COPIED left in a snapshot's table (QEMU sets it there on delete) goes while the table is
      // still inactive: once shared with the active state its clusters have refcount 2 or more.
      long[] l2 = snapshotL2[i];
      long[] flags = counts.withCopiedFlags(shadow, l2);
      if (!Arrays.equals(flags, l2)) {
        byte[] raw = new byte[flags.length * 8];
        ByteBuffer.wrap(raw).asLongBuffer().put(flags);
        file.write(l2Offset, raw, 0, raw.length, ACTIVE_L2.mask() | INACTIVE_L2.mask());
      }
    }
    long oldL1Offset = header.l1Offset;
    long l1Clusters = clustersFor(current.length * 8L);
    long newL1Offset = header.l1Offset;
    if (current.length > 0) {
      newL1Offset = refcounts.allocate(l1Clusters);
      refcounts.flush();
      writeFresh(newL1Offset, next);
    }
    file.force(false);

    long activeL1Offset = newL1Offset;
    shadow.switchTo(() -> {
      header.l1Offset = activeL1Offset;
      header.size = newSize;
      tables.replaceL1(next);
    }, commits::writeHeader);
    if (current.length > 0) {
      enter(newL1Offset, l1Clusters, ACTIVE_L1.mask());
      remove(oldL1Offset, l1Clusters, ACTIVE_L1.mask());
    }
    // Patch 8: the old active L2 tables stop being active; the snapshot's start.
    for (long e : current) {
      long l2Offset = e & TableEntry.L1_OFFSET_MASK;
      if (l2Offset != 0) {
        remove(l2Offset, 1, ACTIVE_L2.mask());
      }
    }
    for (long e : next) {
      long l2Offset = e & TableEntry.L1_OFFSET_MASK;
      if (l2Offset != 0) {
        enter(l2Offset, 1, ACTIVE_L2.mask());
      }
    }
    shadow.finish();
    if (current.length > 0) {
      refcounts.update(oldL1Offset >>> clusterBits, l1Clusters, -1);
    }
    refcounts.flush();
    commits.syncToFile();
    file.force(false);
  }

  // -------------------------------------------------------------------------------------------
  // Delete (qcow2_snapshot_delete)

  void delete(String idOrName) throws IOException {
    List<SnapshotTable.Entry> entries = entries();
    SnapshotTable.Entry sn = entries.remove(find(entries, idOrName));
    commits.syncToFile();
    long[] snapshotL1 = readL1(sn.l1Offset(), sn.l1Size());
    counts.checkL2Offsets(snapshotL1, "delete snapshot '" + sn.name() + "'");
    long[] active = tables.l1().clone();
    RefcountShadow shadow = new RefcountShadow(file, header, refcounts);
    // The snapshot's paths go. Active tables whose COPIED flags change with that are copied with
    // the new flags (the active path moves to the copy), and a new active L1 table carries the
    // new L1 flags; both switch with the refcounts in one header write.
    long[][] snapshotL2 = new long[snapshotL1.length][];
    for (int i = 0; i < snapshotL1.length; i++) {
      long l2Offset = snapshotL1[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset != 0) {
        snapshotL2[i] = tables.readL2TableFromFile(l2Offset);
        shadow.add(l2Offset >>> clusterBits, 1, -1);
        // Patch 11 below: it stops being inactive if no snapshot has it any more.
        shadow.retiring(l2Offset >>> clusterBits, 1, INACTIVE_L2.mask());
        counts.addL2(shadow, l2Offset, snapshotL2[i], -1, false);
      }
    }
    long[][] activeL2 = new long[active.length][];
    for (int i = 0; i < active.length; i++) {
      long l2Offset = active[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset != 0) {
        activeL2[i] = tables.readL2TableFromFile(l2Offset);
        shadow.markActive(l2Offset >>> clusterBits, 1);
        counts.addL2(shadow, l2Offset, activeL2[i], 0, true);
      }
    }
    // QEMU's rewrites, judged before our copies move refcounts.
    checkRewrites(shadow, snapshotL1, snapshotL2);
    checkRewrites(shadow, active, activeL2);
    long[] newL1 = new long[active.length];
    long[][] copies = new long[active.length][];
    boolean l1Changed = false;
    for (int i = 0; i < active.length; i++) {
      long l2Offset = active[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        newL1[i] = active[i];
        continue;
      }
      long[] flags = counts.withCopiedFlags(shadow, activeL2[i]);
      if (!Arrays.equals(flags, activeL2[i])) {
        // The data clusters keep their count: one active path leaves, one arrives.
        copies[i] = flags;
        shadow.add(l2Offset >>> clusterBits, 1, -1);
        // Replaced by its copy below; inactive too only while a snapshot still has it.
        shadow.retiring(l2Offset >>> clusterBits, 1, ACTIVE_L2.mask() | INACTIVE_L2.mask());
        l1Changed = true;
      } else {
        newL1[i] = l2Offset
            | (shadow.finalRefcount(l2Offset >>> clusterBits) == 1 ? TableEntry.COPIED : 0);
        l1Changed |= newL1[i] != active[i];
      }
    }
    shadow.checkFrees();
    for (int i = 0; i < active.length; i++) {
      if (copies[i] != null) {
        newL1[i] = refcounts.allocate(1) | TableEntry.COPIED;
      }
    }
    long oldL1Offset = header.l1Offset;
    long l1Clusters = clustersFor(active.length * 8L);
    long newL1Offset = oldL1Offset;
    if (l1Changed) {
      newL1Offset = refcounts.allocate(l1Clusters);
      refcounts.flush();
      for (int i = 0; i < active.length; i++) {
        if (copies[i] != null) {
          writeFresh(newL1[i] & TableEntry.L1_OFFSET_MASK, copies[i]);
        }
      }
      writeFresh(newL1Offset, newL1);
    }
    OldTable oldTable = currentTable();
    NewTable table = writeNewTable(entries);
    file.force(false);

    long activeL1Offset = newL1Offset;
    boolean switchL1 = l1Changed;
    shadow.switchTo(() -> {
      if (switchL1) {
        header.l1Offset = activeL1Offset;
        tables.replaceL1(newL1);
      }
      install(table);
    }, commits::writeHeader);
    long snapshotL1Clusters = clustersFor(sn.l1Size() * 8L);
    if (sn.l1Size() > 0) {
      remove(sn.l1Offset(), snapshotL1Clusters, INACTIVE_L1.mask()); // patch 10
    }
    if (l1Changed) {
      enter(newL1Offset, l1Clusters, ACTIVE_L1.mask());
      remove(oldL1Offset, l1Clusters, ACTIVE_L1.mask());
    }
    for (int i = 0; i < active.length; i++) {
      if (copies[i] != null) {
        long l2Offset = active[i] & TableEntry.L1_OFFSET_MASK;
        remove(l2Offset, 1, ACTIVE_L2.mask());
        enter(newL1[i] & TableEntry.L1_OFFSET_MASK, 1, ACTIVE_L2.mask());
        if (shadow.finalRefcount(l2Offset >>> clusterBits) == 0) {
          remove(l2Offset, 1, INACTIVE_L2.mask());
        }
      }
    }
    // Patch 11: a table of the snapshot stays inactive while another snapshot still has it.
    Set<Long> activeNow = activeL2Offsets();
    for (long e : snapshotL1) {
      long l2Offset = e & TableEntry.L1_OFFSET_MASK;
      if (l2Offset == 0) {
        continue;
      }
      long refcount = shadow.finalRefcount(l2Offset >>> clusterBits);
      if (refcount == 0 || (refcount == 1 && activeNow.contains(l2Offset))) {
        remove(l2Offset, 1, INACTIVE_L2.mask());
      }
    }
    replaceTableEvents(oldTable, table);
    shadow.finish();
    if (sn.l1Size() > 0) {
      refcounts.update(sn.l1Offset() >>> clusterBits, snapshotL1Clusters, -1);
    }
    if (l1Changed) {
      refcounts.update(oldL1Offset >>> clusterBits, l1Clusters, -1);
    }
    retire(oldTable);
    refcounts.flush();
    commits.syncToFile();
    file.force(false);
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

  /** Writes a table to clusters just allocated: they must overlap nothing (no type ignored). */
  private void writeFresh(long offset, long[] table) throws IOException {
    byte[] raw = new byte[table.length * 8];
    ByteBuffer.wrap(raw).asLongBuffer().put(table);
    file.write(offset, raw, 0, raw.length, 0);
  }

  /**
   * QEMU updates COPIED flags in place (qcow2_update_snapshot_refcount), and its write of a table
   * whose flags change is overlap-checked. We write such tables to new clusters instead, but
   * refuse where QEMU's write would meet other metadata, before anything changes: a table whose
   * flags change must be nothing but an L2 table. (Overlaps with other L2 tables are not judged:
   * QEMU's check ignores active ones, and its overlap-check=all refuses rewrites of tables a
   * snapshot shares even on undamaged images.)
   */
  private void checkRewrites(RefcountShadow shadow, long[] l1, long[][] l2Tables)
      throws IOException {
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = l1[i] & TableEntry.L1_OFFSET_MASK;
      if (l2Offset != 0 && counts.qemuRewrites(shadow, l2Tables[i])) {
        file.checkWrite(l2Offset, clusterSize, ACTIVE_L2.mask() | INACTIVE_L2.mask());
      }
    }
  }

  private Set<Long> activeL2Offsets() {
    Set<Long> offsets = new HashSet<>();
    for (long e : tables.l1()) {
      long l2 = e & TableEntry.L1_OFFSET_MASK;
      if (l2 != 0) {
        offsets.add(l2);
      }
    }
    return offsets;
  }

  /** The snapshot table in use: where it is and how many clusters it takes. */
  private record OldTable(long offset, long clusters) {}

  /** A snapshot table written to new clusters, not yet in the header. */
  private record NewTable(long offset, long clusters, List<Snapshot> parsed, long length,
      int count) {}

  private OldTable currentTable() throws IOException {
    long offset = header.snapshotsOffset;
    long clusters = header.snapshotCount == 0 ? 0
        : clustersFor(Snapshot.tableLength(metadata.snapshots(), offset, file.io()));
    return new OldTable(offset, clusters);
  }

  /** QEMU's qcow2_write_snapshots, first half: the new table goes to new clusters. */
  private NewTable writeNewTable(List<SnapshotTable.Entry> entries) throws IOException {
    byte[] table = SnapshotTable.encode(entries);
    long clusters = clustersFor(table.length);
    long offset = 0;
    if (table.length > 0) {
      offset = refcounts.allocate(clusters);
      refcounts.flush();
      file.write(offset, table, 0, table.length, 0);
    }
    List<Snapshot> parsed = entries.isEmpty() ? List.of()
        : Snapshot.readTable(file.io(), offset, entries.size(), clusterBits);
    return new NewTable(offset, clusters, parsed,
        Snapshot.tableLength(parsed, offset, file.io()), entries.size());
  }

  /**
   * The header fields and the table the view shows change together, so a scanning strategy never
   * sees the new offset with the old entries (e.g. offset 0 with the old length).
   */
  private void install(NewTable table) {
    header.snapshotCount = table.count();
    header.snapshotsOffset = table.offset();
    metadata.replaceSnapshots(table.parsed(), table.length());
  }

  /** Patch 9: the old table's range leaves the checker, the new one's enters. */
  private void replaceTableEvents(OldTable old, NewTable table) {
    if (old.clusters() > 0) {
      remove(old.offset(), old.clusters(), SNAPSHOT_TABLE.mask());
    }
    if (table.clusters() > 0) {
      enter(table.offset(), table.clusters(), SNAPSHOT_TABLE.mask());
    }
  }

  /** Frees the old table (a leak since the switch). */
  private void retire(OldTable old) throws IOException {
    if (old.clusters() > 0) {
      refcounts.update(old.offset() >>> clusterBits, old.clusters(), -1);
    }
  }

  private long[] readL1(long offset, int entries) throws IOException {
    return entries == 0 ? new long[0] : tables.readTable(offset, entries);
  }

  private long clustersFor(long bytes) {
    return (bytes + clusterSize - 1) >>> clusterBits;
  }

  private void enter(long offset, long clusters, int types) {
    tracker.enter(offset, clusters, types);
  }

  private void remove(long offset, long clusters, int types) {
    tracker.remove(offset, clusters, types);
  }
}
