package io.qcow2.format;

/**
 * A check fired below the image (an overlapping host write, or a pointer that fails one of QEMU's
 * structural checks). It travels up to {@link Qcow2Image}, which signals the corruption (QEMU's
 * {@code qcow2_signal_corruption}: corrupt bit, read-only) and throws the public exception
 * {@link #toPublic} makes instead; it never leaves the package.
 */
final class CorruptionEvent extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  /** The metadata types an overlapping write hit; 0 for a structural check. */
  private final int overlapMask;
  private final long hostOffset;

  private CorruptionEvent(String event, int overlapMask, long hostOffset) {
    super(event);
    this.overlapMask = overlapMask;
    this.hostOffset = hostOffset;
  }

  /** An overlap check fired for a write at {@code hostOffset}. */
  static CorruptionEvent overlap(int mask, long hostOffset) {
    return new CorruptionEvent("overlap at host offset 0x" + Long.toHexString(hostOffset), mask, hostOffset);
  }

  /** A pointer failed a structural check; {@code event} says which, in QEMU's words. */
  static CorruptionEvent structural(String event) {
    return new CorruptionEvent(event, 0, -1);
  }

  /** The exception the caller sees once the corruption has been signalled. */
  Qcow2Exception toPublic(boolean markedCorrupt, boolean writable) {
    Qcow2Exception e = overlapMask != 0
        ? new MetadataOverlapException(overlapMask, hostOffset, markedCorrupt)
        : new MetadataCorruptionException(getMessage(), markedCorrupt, writable);
    // Where the check fired, not where the signal was raised, is what a reader of a trace needs.
    e.setStackTrace(getStackTrace());
    return e;
  }
}
