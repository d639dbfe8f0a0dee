package io.qcow2.format;

/**
 * A corruption event other than an overlap: a pointer failed one of the checks QEMU makes when it
 * follows it (an unaligned L2 table, cluster or refcount block offset, an allocation at offset 0),
 * or a refcount of metadata still in use would have dropped to 0. As with {@link
 * MetadataOverlapException}, nothing of the refused request was written, the image was marked
 * corrupt (version 3, opened read/write) and the open image refuses further writes; reads go on.
 */
public final class MetadataCorruptionException extends CorruptImageException {
  private static final long serialVersionUID = 1L;

  private final String event;
  private final boolean markedCorrupt;

  MetadataCorruptionException(String event, boolean markedCorrupt, boolean writable) {
    super(event + "; " + (markedCorrupt ? "image marked as corrupt"
        : writable ? "image not marked as corrupt (compat 0.10 has no corrupt bit), further writes refused"
        : "image opened read-only, not marked as corrupt"));
    this.event = event;
    this.markedCorrupt = markedCorrupt;
  }

  /** What was found, in QEMU's words (e.g. "L2 table offset 0x42a00 unaligned (L1 index: 0)"). */
  public String event() {
    return event;
  }

  /** Whether the corrupt bit was set in the image's header. */
  public boolean markedCorrupt() {
    return markedCorrupt;
  }

  /** An offset or index as QEMU prints it with {@code %#x}: unsigned hex, "0" for zero. */
  static String hex(long value) {
    return value == 0 ? "0" : "0x" + Long.toHexString(value);
  }
}
