package io.qcow2.overlap;

import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.BITMAP_DIRECTORY;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.MAIN_HEADER;
import static io.qcow2.overlap.MetadataType.REFCOUNT_TABLE;
import static io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * QEMU's overlap-check templates ({@code overlap-check=none|constant|cached|all}), each a mask of
 * {@link MetadataType}s. {@link OverlapCheckOptions} applies the per-type switches on top.
 */
public enum OverlapCheckMode {
  /** No checks at all: no checker is built. */
  NONE(0),
  /**
   * The structures whose location is known without reading any table: O(1) per check in QEMU
   * ({@code QCOW2_OL_CONSTANT}: header, active L1 table, refcount table, snapshot table and bitmap
   * directory).
   */
  CONSTANT(MetadataType.maskOf(MAIN_HEADER, ACTIVE_L1, REFCOUNT_TABLE, SNAPSHOT_TABLE, BITMAP_DIRECTORY)),
  /**
   * Everything QEMU keeps in memory anyway: all types but inactive L2 tables. QEMU's default.
   *
   * <p>The bitmap types are here and not in {@link #CONSTANT}: constant holds what the header alone
   * locates, while bitmap tables are found through the bitmap directory (one per bitmap, as the
   * snapshots' L1 tables, which QEMU counts as cached, are found through the snapshot table) and
   * bitmap data clusters through those tables (like L2 tables, their number grows with the image
   * size). Both stay in memory while the image is open (the engine keeps every bitmap loaded), so
   * checking them costs no read, unlike inactive L2 tables, which only {@link #ALL} adds.
   */
  CACHED(MetadataType.ALL_MASK & ~INACTIVE_L2.mask()),
  /** Every type, including inactive L2 tables, which QEMU had to read from disk on every check. */
  ALL(MetadataType.ALL_MASK);

  private final int mask;

  OverlapCheckMode(int mask) {
    this.mask = mask;
  }

  /** The types this template enables. */
  public int mask() {
    return mask;
  }

  /** The option value naming this mode, e.g. {@code "cached"}. */
  public String optionValue() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The mode named {@code value} ({@code none}, {@code constant}, {@code cached} or {@code all}).
   *
   * @throws IllegalArgumentException listing the allowed values if {@code value} is none of them
   */
  public static OverlapCheckMode parse(String option, String value) {
    for (OverlapCheckMode mode : values()) {
      if (mode.optionValue().equals(value)) {
        return mode;
      }
    }
    throw new IllegalArgumentException(String.format(
        "Unsupported value '%s' for qcow2 option '%s'; allowed values are: %s", value, option,
        Arrays.stream(values()).map(OverlapCheckMode::optionValue).collect(Collectors.joining(", "))));
  }
}
