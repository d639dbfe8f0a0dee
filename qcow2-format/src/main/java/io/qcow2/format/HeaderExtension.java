package io.qcow2.format;

import java.util.Arrays;

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
