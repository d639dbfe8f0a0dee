package io.qcow2.format;

/**
 * A run of guest bytes with one mapping kind, as {@code qemu-img map} reports it.
 *
 * @param guestOffset first guest byte
 * @param length bytes in the run
 * @param kind how the run reads
 * @param hostOffset host offset of the first byte for {@link Kind#DATA} (and allocated {@link
 *     Kind#ZERO}) runs in this image, -1 otherwise
 * @param fromBacking whether the bytes come from the backing chain
 */
public record Extent(long guestOffset, long length, Kind kind, long hostOffset, boolean fromBacking) {
  /** How a run of guest bytes reads. */
  public enum Kind {
    /** Data stored in a host cluster. */
    DATA,
    /** Reads as zeros (the zero flag). */
    ZERO,
    /** Not allocated anywhere in the chain: reads as zeros. */
    UNALLOCATED,
    /** Stored in a compressed cluster; the host offset is that of the compressed bytes. */
    COMPRESSED
  }

  /** First guest byte after the run. */
  public long end() {
    return guestOffset + length;
  }
}
