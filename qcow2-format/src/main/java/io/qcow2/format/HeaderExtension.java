package io.qcow2.format;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One header extension as stored after the header: its type (magic) and its data, unknown types
 * included.
 */
public record HeaderExtension(int type, byte[] data) {
  public static final int BACKING_FORMAT = 0xe2792aca;
  public static final int FEATURE_NAME_TABLE = 0x6803f857;
  public static final int BITMAPS = 0x23852875;
  public static final int FULL_DISK_ENCRYPTION = 0x0537be77;
  public static final int EXTERNAL_DATA_FILE = 0x44415441;

  public HeaderExtension {
    data = data.clone();
  }

  @Override
  public byte[] data() {
    return data.clone();
  }

  /**
   * Where one extension lies in cluster 0, as stored: its type, the offset of its data and its
   * length, not yet checked against anything.
   */
  record Location(int type, long dataOffset, long length) {
    /** Whether the extension ends after {@code end} (QEMU: "Header extension too large"). */
    boolean exceeds(long end) {
      return dataOffset > end || length > end - dataOffset;
    }
  }

  /**
   * The extensions stored in {@code cluster0} from {@code start} (the header length) to {@code
   * end} (the backing file name or the end of the cluster), walked as QEMU's {@code
   * qcow2_read_extensions} walks them: each 8-byte type and length, then the data padded to 8
   * bytes. The walk stops after the end marker (type 0) or the first extension that {@link
   * Location#exceeds} {@code end}, which is the last element then; the caller decides whether
   * that is an error. Bytes past the array read as zero.
   */
  static List<Location> locate(byte[] cluster0, long start, long end) {
    List<Location> found = new ArrayList<>();
    ByteBuffer field = ByteBuffer.allocate(8);
    for (long offset = start; offset < end; ) {
      field.clear();
      int available = (int) Math.max(0, Math.min(8, cluster0.length - offset));
      field.put(cluster0, (int) Math.min(offset, cluster0.length), available);
      while (field.hasRemaining()) {
        field.put((byte) 0);
      }
      Location location = new Location(field.getInt(0), offset + 8,
          Integer.toUnsignedLong(field.getInt(4)));
      found.add(location);
      if (location.type() == 0 || location.exceeds(end)) {
        break;
      }
      offset = location.dataOffset() + ((location.length() + 7) & ~7L);
    }
    return found;
  }

  /** A readable name for the type, "unknown" for types this engine does not know. */
  public String name() {
    switch (type) {
      case BACKING_FORMAT: return "backing file format";
      case FEATURE_NAME_TABLE: return "feature name table";
      case BITMAPS: return "bitmaps";
      case FULL_DISK_ENCRYPTION: return "full disk encryption";
      case EXTERNAL_DATA_FILE: return "external data file name";
      default: return "unknown";
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof HeaderExtension e && e.type == type && Arrays.equals(e.data, data);
  }

  @Override
  public int hashCode() {
    return 31 * type + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return String.format("HeaderExtension[0x%08x %s, %d bytes]", type, name(), data.length);
  }
}
