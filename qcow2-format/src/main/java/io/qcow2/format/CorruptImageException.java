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

  /**
   * "{@code field} {@code value} {@code limit} (read at file offset 0x...)"; a number is shown in
   * decimal and hex, or in unsigned hex alone when its top bit is set (an entry with COPIED set is
   * not a negative number).
   */
  static CorruptImageException field(String field, Object value, String limit, long fileOffset) {
    String shown = String.valueOf(value);
    if (value instanceof Long || value instanceof Integer) {
      long v = ((Number) value).longValue();
      shown = v < 0 ? String.format("0x%x", value) : String.format("%d (0x%x)", value, value);
    }
    return new CorruptImageException(String.format(
        "Invalid %s %s: %s (read at file offset 0x%x)", field, shown, limit, fileOffset));
  }
}
