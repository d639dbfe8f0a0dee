package io.qcow2.format;

/**
 * A field or structure read from the image is invalid. The message names the field, its value, the
 * limit it breaks and, where known, the file offset it was read from.
 *
 * <p>{@link MetadataCorruptionException}, the one subclass, is a corruption event: found while
 * following a pointer of an open image, with the image marked corrupt as a fired overlap check
 * marks it.
 */
public sealed class CorruptImageException extends Qcow2Exception permits MetadataCorruptionException {
  private static final long serialVersionUID = 1L;

  public CorruptImageException(String message) {
    super(message);
  }

  /** "{@code field} {@code value} {@code limit} (read at file offset 0x...)"; numbers in hex. */
  static CorruptImageException field(String field, Object value, String limit, long fileOffset) {
    // Unsigned hex: an entry with bit 63 (COPIED) set is not a negative number.
    String shown = value instanceof Long || value instanceof Integer
        ? String.format("0x%x", value) : String.valueOf(value);
    return new CorruptImageException(String.format(
        "Invalid %s %s: %s (read at file offset 0x%x)", field, shown, limit, fileOffset));
  }
}
