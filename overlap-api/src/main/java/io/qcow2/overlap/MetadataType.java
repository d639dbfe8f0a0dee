package io.qcow2.overlap;

import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * The kinds of qcow2 metadata an overlap check protects, with QEMU's bit numbers ({@code
 * QCOW2_OL_*_BITNR} in {@code block/qcow2.h}), option names and messages.
 *
 * <p>Bits 0 to 8 are QEMU's nine types. Bits 9 and 10, {@link #BITMAP_TABLE} and {@link
 * #BITMAP_DATA}, are this project's: QEMU 7.2 protects a persistent dirty bitmap's directory but
 * not its tables and data clusters. A guest write that a corrupt L2 entry sends there overwrites a
 * stored bitmap unnoticed, and the cluster is freed under the guest's data when the bitmaps are
 * next stored (at close).
 *
 * <p>Sets of types are passed around as {@code int} masks: bit {@link #bit()} set means the type is
 * in the set. {@link #ALL_MASK} holds every type.
 */
public enum MetadataType {
  MAIN_HEADER("main-header", "qcow2_header"),
  ACTIVE_L1("active-l1", "active L1 table"),
  ACTIVE_L2("active-l2", "active L2 table"),
  REFCOUNT_TABLE("refcount-table", "refcount table"),
  REFCOUNT_BLOCK("refcount-block", "refcount block"),
  SNAPSHOT_TABLE("snapshot-table", "snapshot table"),
  INACTIVE_L1("inactive-l1", "inactive L1 table"),
  INACTIVE_L2("inactive-l2", "inactive L2 table"),
  BITMAP_DIRECTORY("bitmap-directory", "bitmap directory"),
  /** A persistent dirty bitmap's table (qcow2 spec, "Bitmap table"); not a QEMU type. */
  BITMAP_TABLE("bitmap-table", "bitmap table"),
  /** A cluster of a persistent dirty bitmap's data (qcow2 spec, "Bitmap data"); not a QEMU type. */
  BITMAP_DATA("bitmap-data", "bitmap data");

  /** Mask with every type's bit set. */
  public static final int ALL_MASK = (1 << values().length) - 1;

  private static final MetadataType[] VALUES = values();

  private final String optionName;
  private final String description;

  MetadataType(String optionName, String description) {
    this.optionName = optionName;
    this.description = description;
  }

  /** QEMU's bit number for this type (this project's for bits 9 and 10); the enum's ordinal. */
  public int bit() {
    return ordinal();
  }

  /** {@code 1 << bit()}. */
  public int mask() {
    return 1 << ordinal();
  }

  /** The suffix of this type's switch, as in {@code overlap-check.active-l2}. */
  public String optionName() {
    return optionName;
  }

  /** The name QEMU uses in its "Preventing invalid write on metadata" message. */
  public String description() {
    return description;
  }

  /** The type with the given option name, or {@code null}. */
  public static MetadataType forOptionName(String name) {
    for (MetadataType type : VALUES) {
      if (type.optionName.equals(name)) {
        return type;
      }
    }
    return null;
  }

  /** The types in {@code mask}, in bit order. */
  public static List<MetadataType> fromMask(int mask) {
    checkMask(mask, "mask");
    List<MetadataType> types = new ArrayList<>(Integer.bitCount(mask));
    for (MetadataType type : VALUES) {
      if ((mask & type.mask()) != 0) {
        types.add(type);
      }
    }
    return types;
  }

  /** The mask of the given types. */
  public static int maskOf(MetadataType... types) {
    int mask = 0;
    for (MetadataType type : types) {
      mask |= type.mask();
    }
    return mask;
  }

  /**
   * The descriptions of the types in {@code mask}, joined with ", " in bit order, e.g. {@code
   * "active L2 table, refcount block"}; {@code "none"} for an empty mask.
   */
  public static String describe(int mask) {
    if (mask == 0) {
      return "none";
    }
    StringJoiner joined = new StringJoiner(", ");
    for (MetadataType type : fromMask(mask)) {
      joined.add(type.description);
    }
    return joined.toString();
  }

  /**
   * The option names of the types in {@code mask}, joined with "," in bit order ({@code ""} for an
   * empty mask).
   */
  public static String optionNames(int mask) {
    StringJoiner joined = new StringJoiner(",");
    for (MetadataType type : fromMask(mask)) {
      joined.add(type.optionName);
    }
    return joined.toString();
  }

  /**
   * Checks that {@code mask} names only known types.
   *
   * @throws IllegalArgumentException naming {@code what} and the value otherwise
   */
  public static int checkMask(int mask, String what) {
    if ((mask & ~ALL_MASK) != 0) {
      throw new IllegalArgumentException(
          String.format("%s 0x%x has unknown metadata type bits 0x%x (known: 0x%x)",
              what, mask, mask & ~ALL_MASK, ALL_MASK));
    }
    return mask;
  }
}
