package io.qcow2.format;

/**
 * A run of guest bytes with one mapping kind, as {@code qemu-img map} reports it.
 *
 * @param guestOffset first guest byte
 * @param length bytes in the run
 * @param kind how the run reads
 * @param hostOffset for {@link Kind#DATA}, the host offset of the first byte (in the backing
 *     file's own file when {@code fromBacking}); for {@link Kind#COMPRESSED}, the offset of the
 *     compressed bytes; -1 for {@link Kind#ZERO} and {@link Kind#UNALLOCATED}
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
