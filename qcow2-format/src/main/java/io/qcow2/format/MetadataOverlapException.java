package io.qcow2.format;

import io.qcow2.overlap.MetadataType;

/**
 * An overlap check fired: a host write would have landed on metadata. The write was not performed,
 * the image was marked corrupt (version 3) and further writes are refused.
 */
public final class MetadataOverlapException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  private final int typeMask;
  private final long hostOffset;

  MetadataOverlapException(int typeMask, long hostOffset, boolean markedCorrupt) {
    super(message(typeMask, hostOffset, markedCorrupt));
    this.typeMask = typeMask;
    this.hostOffset = hostOffset;
  }

  /** The metadata types the write overlapped, as a {@link MetadataType} mask. */
  public int typeMask() {
    return typeMask;
  }

  /** Host offset of the refused write. */
  public long hostOffset() {
    return hostOffset;
  }

  private static String message(int mask, long offset, boolean markedCorrupt) {
    // QEMU names the first overlapping type in bit order (qcow2_pre_write_overlap_check).
    String first = MetadataType.fromMask(Integer.lowestOneBit(mask)).get(0).description();
    return String.format("Preventing invalid write on metadata (overlaps with %s) at offset 0x%x; %s",
        first, offset, markedCorrupt ? "image marked as corrupt"
            : "image not marked as corrupt (compat 0.10 has no corrupt bit), further writes refused");
  }
}
