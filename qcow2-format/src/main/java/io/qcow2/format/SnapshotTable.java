package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The snapshot table's entries with every field QEMU keeps, for rewriting the table (spec
 * "Snapshots"; QEMU's {@code qcow2_read_snapshots} and {@code qcow2_write_snapshots}).
 *
 * <p>Entries are read only after {@link Snapshot#readTable} has validated the table, so every size
 * used here is already bounded. Extra data beyond the three fields QEMU 7.2 knows is kept byte for
 * byte, as QEMU keeps it.
 */
final class SnapshotTable {
  /** QEMU's {@code QCOW_MAX_SNAPSHOTS}. */
  static final int MAX_SNAPSHOTS = Header.MAX_SNAPSHOTS;
  /** QEMU's {@code QCOW_MAX_SNAPSHOTS_SIZE}. */
  static final long MAX_TABLE_BYTES = Snapshot.MAX_TABLE_BYTES;
  /** QEMU's {@code QCowSnapshotExtraData}: vm_state_size_large, disk_size, icount. */
  static final int EXTRA_DATA_SIZE = 24;
  /** Longest id, as QEMU's {@code QEMUSnapshotInfo.id_str[128]} holds it. */
  static final int MAX_ID_BYTES = 127;
  /** Longest name, as QEMU's {@code QEMUSnapshotInfo.name[256]} holds it. */
  static final int MAX_NAME_BYTES = 255;

  private SnapshotTable() {}

  /** One entry; {@code extra} is the raw extra data as read (may be shorter than 24 bytes). */
  record Entry(long l1Offset, int l1Size, String id, String name, long dateSeconds, long dateNanos,
      long vmClockNanos, long vmStateSize, long diskSize, long icount, byte[] extra) {
    SnapshotInfo info() {
      return new SnapshotInfo(id, name, vmStateSize, dateSeconds, dateNanos, vmClockNanos,
          diskSize, icount, l1Size);
    }
  }

  /**
   * The full entries of the validated table {@code validated}; {@code virtualSize} stands in for
   * the disk size of entries too old to record it, as QEMU does.
   */
  static List<Entry> read(HostFile file, List<Snapshot> validated, long virtualSize)
      throws IOException {
    List<Entry> entries = new ArrayList<>(validated.size());
    byte[] head = new byte[Snapshot.HEADER_SIZE];
    for (Snapshot s : validated) {
      file.read(s.tableOffset(), head, 0, head.length);
      Snapshot.Head h = Snapshot.Head.decode(head);
      int idSize = h.idSize();
      int nameSize = h.nameSize();
      long dateSeconds = h.dateSeconds();
      long dateNanos = h.dateNanos();
      long vmClock = h.vmClockNanos();
      long vmState = h.vmStateSize();
      int extraSize = (int) h.extraSize(); // at most MAX_EXTRA_DATA: validated by readTable
      byte[] extra = new byte[extraSize];
      file.read(s.tableOffset() + Snapshot.HEADER_SIZE, extra, 0, extraSize);
      ByteBuffer x = ByteBuffer.wrap(extra);
      if (extraSize >= 8) {
        vmState = x.getLong(0);
      }
      long diskSize = extraSize >= 16 ? x.getLong(8) : virtualSize;
      long icount = extraSize >= 24 ? x.getLong(16) : -1;
      byte[] strings = new byte[idSize + nameSize];
      file.read(s.tableOffset() + Snapshot.HEADER_SIZE + extraSize, strings, 0, strings.length);
      String id = new String(strings, 0, idSize, StandardCharsets.UTF_8);
      String name = new String(strings, idSize, nameSize, StandardCharsets.UTF_8);
      entries.add(new Entry(s.l1Offset(), s.l1Size(), id, name, dateSeconds, dateNanos, vmClock,
          vmState, diskSize, icount, extra));
    }
    return entries;
  }

  /**
   * The table as QEMU's {@code qcow2_write_snapshots} lays it out: entries 8-byte aligned, each
   * with at least 24 bytes of extra data.
   *
   * @throws Qcow2Exception if there are more than 65536 entries or the table exceeds 64 MiB
   */
  static byte[] encode(List<Entry> entries) throws Qcow2Exception {
    if (entries.size() > MAX_SNAPSHOTS) {
      throw new Qcow2Exception(String.format(
          "Too many snapshots: %d, the maximum is %d", entries.size(), MAX_SNAPSHOTS));
    }
    long size = 0;
    for (Entry e : entries) {
      size = (size + 7) & ~7L;
      size += Snapshot.HEADER_SIZE + Math.max(EXTRA_DATA_SIZE, e.extra.length)
          + utf8(e.id).length + utf8(e.name).length;
      if (size > MAX_TABLE_BYTES) {
        throw new Qcow2Exception(String.format(
            "Snapshot table too large: %d snapshots need more than the maximum of %d bytes (64 MiB)",
            entries.size(), MAX_TABLE_BYTES));
      }
    }
    ByteBuffer b = ByteBuffer.allocate((int) size);
    for (Entry e : entries) {
      b.position((b.position() + 7) & ~7);
      byte[] id = utf8(e.id);
      byte[] name = utf8(e.name);
      byte[] extra = Arrays.copyOf(e.extra, Math.max(EXTRA_DATA_SIZE, e.extra.length));
      ByteBuffer x = ByteBuffer.wrap(extra);
      x.putLong(0, e.vmStateSize);
      x.putLong(8, e.diskSize);
      x.putLong(16, e.icount);
      b.putLong(e.l1Offset);
      b.putInt(e.l1Size);
      b.putShort((short) id.length);
      b.putShort((short) name.length);
      b.putInt((int) e.dateSeconds);
      b.putInt((int) e.dateNanos);
      b.putLong(e.vmClockNanos);
      // Older readers take a state too large for 32 bits as none (QEMU does the same).
      b.putInt(e.vmStateSize <= 0xffffffffL ? (int) e.vmStateSize : 0);
      b.putInt(extra.length);
      b.put(extra);
      b.put(id);
      b.put(name);
    }
    return b.array();
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
