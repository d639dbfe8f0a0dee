package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One entry of the snapshot table (spec "Snapshots"), validated.
 *
 * @param tableOffset file offset of this entry
 * @param l1Offset host offset of the snapshot's L1 table
 * @param l1Size entries in the snapshot's L1 table
 * @param id the snapshot's id string
 * @param name the snapshot's name
 * @param dateSeconds creation time, seconds
 * @param vmStateSize size of the saved VM state
 * @param diskSize the guest size when the snapshot was taken, or -1 when the entry has no extra
 *     data field for it
 */
record Snapshot(long tableOffset, long l1Offset, int l1Size, String id, String name,
    long dateSeconds, long vmStateSize, long diskSize) {
  static final int HEADER_SIZE = 40;
  static final int MAX_EXTRA_DATA = 1024;
  static final int MAX_NAME = 1023;
  static final long MAX_TABLE_BYTES = 64L << 20;

  /**
   * The fixed part of a table entry (its first {@link #HEADER_SIZE} bytes) as stored, before any
   * validation: the one place its field offsets live. The engine validates it in {@link
   * #readTable}; check tolerates what {@code qemu-img check} tolerates.
   *
   * @param l1Size unsigned, as stored
   * @param extraSize unsigned, as stored
   */
  record Head(long l1Offset, long l1Size, int idSize, int nameSize, long dateSeconds,
      long dateNanos, long vmClockNanos, long vmStateSize, long extraSize) {
    static Head decode(byte[] head) {
      ByteBuffer b = ByteBuffer.wrap(head, 0, HEADER_SIZE);
      return new Head(b.getLong(0), Integer.toUnsignedLong(b.getInt(8)),
          Short.toUnsignedInt(b.getShort(12)), Short.toUnsignedInt(b.getShort(14)),
          Integer.toUnsignedLong(b.getInt(16)), Integer.toUnsignedLong(b.getInt(20)),
          b.getLong(24), Integer.toUnsignedLong(b.getInt(32)),
          Integer.toUnsignedLong(b.getInt(36)));
    }

    /** Bytes after the fixed part: extra data, id and name. */
    long variableSize() {
      return extraSize + idSize + nameSize;
    }
  }

  /**
   * Reads and validates {@code count} entries at {@code offset}; every size is bounded before
   * anything is allocated, so a hostile table costs at most 64 MiB of reads.
   */
  static List<Snapshot> readTable(HostIo io, long offset, int count, int clusterBits)
      throws IOException {
    List<Snapshot> snapshots = new ArrayList<>(Math.min(count, 1024));
    long fileSize = io.size();
    long pos = offset;
    byte[] head = new byte[HEADER_SIZE];
    for (int i = 0; i < count; i++) {
      if (pos - offset + HEADER_SIZE > MAX_TABLE_BYTES || pos + HEADER_SIZE > fileSize) {
        throw CorruptImageException.field("snapshot table size", pos - offset + HEADER_SIZE,
            "entry " + i + " ends beyond " + (pos + HEADER_SIZE > fileSize
                ? "the end of the file (" + fileSize + " bytes)" : "the 64 MiB limit"), pos);
      }
      Header.readFully(io, head, pos);
      Head h = Head.decode(head);
      long l1Offset = h.l1Offset();
      long l1Size = h.l1Size();
      int idSize = h.idSize();
      int nameSize = h.nameSize();
      long date = h.dateSeconds();
      long vmState = h.vmStateSize();
      long extraSize = h.extraSize();
      if (extraSize > MAX_EXTRA_DATA) {
        throw CorruptImageException.field("snapshot " + i + " extra_data_size", extraSize,
            "must be at most " + MAX_EXTRA_DATA, pos + 36);
      }
      if (idSize > MAX_NAME) {
        throw CorruptImageException.field("snapshot " + i + " id_str_size", idSize, "must be at most " + MAX_NAME, pos + 12);
      }
      if (nameSize > MAX_NAME) {
        throw CorruptImageException.field("snapshot " + i + " name_size", nameSize, "must be at most " + MAX_NAME, pos + 14);
      }
      long maxL1 = Header.MAX_L1_BYTES / 8;
      if (l1Size > maxL1) {
        throw CorruptImageException.field("snapshot " + i + " l1_size", l1Size,
            "must be at most " + maxL1 + " entries (L1 table at most 32 MiB)", pos + 8);
      }
      long clusterSize = 1L << clusterBits;
      if (l1Size > 0 && (l1Offset <= 0 || (l1Offset & (clusterSize - 1)) != 0
          || l1Offset >= Header.MAX_HOST_OFFSET || l1Offset + l1Size * 8 > fileSize)) {
        throw CorruptImageException.field("snapshot " + i + " l1_table_offset", l1Offset,
            "must be cluster-aligned with its " + l1Size + "-entry table inside the file (" + fileSize + " bytes)", pos);
      }
      int variable = (int) extraSize + idSize + nameSize;
      long entryEnd = pos + HEADER_SIZE + variable;
      if (entryEnd - offset > MAX_TABLE_BYTES || entryEnd > fileSize) {
        throw CorruptImageException.field("snapshot " + i + " entry size", HEADER_SIZE + variable,
            "ends beyond the end of the file or the 64 MiB table limit", pos);
      }
      byte[] rest = new byte[variable];
      Header.readFully(io, rest, pos + HEADER_SIZE);
      ByteBuffer r = ByteBuffer.wrap(rest);
      if (extraSize >= 8) {
        vmState = Math.max(vmState, r.getLong(0));
      }
      long diskSize = extraSize >= 16 ? r.getLong(8) : -1;
      String id = new String(rest, (int) extraSize, idSize, StandardCharsets.UTF_8);
      String name = new String(rest, (int) extraSize + idSize, nameSize, StandardCharsets.UTF_8);
      snapshots.add(new Snapshot(pos, l1Offset, (int) l1Size, id, name, date, vmState, diskSize));
      pos = (entryEnd + 7) & ~7L;
    }
    return snapshots;
  }

  /** Bytes the table of {@code snapshots} occupies, from its first entry to the end of the last. */
  static long tableLength(List<Snapshot> snapshots, long tableOffset, HostIo io) throws IOException {
    if (snapshots.isEmpty()) {
      return 0;
    }
    Snapshot last = snapshots.get(snapshots.size() - 1);
    byte[] head = new byte[HEADER_SIZE];
    Header.readFully(io, head, last.tableOffset);
    long variable = Head.decode(head).variableSize();
    return ((last.tableOffset + HEADER_SIZE + variable + 7) & ~7L) - tableOffset;
  }
}
