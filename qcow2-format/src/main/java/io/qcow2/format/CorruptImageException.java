package io.qcow2.format;

/**
 * A field or structure read from the image is invalid. The message names the field, its value, the
 * limit it breaks and, where known, the file offset it was read from.
 */
public final class CorruptImageException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  public CorruptImageException(String message) {
    super(message);
  }

  /** "{@code field} {@code value} {@code limit} (read at file offset 0x...)". */
  static CorruptImageException field(String field, Object value, String limit, long fileOffset) {
    String shown = value instanceof Long || value instanceof Integer
        ? String.format("%d (0x%x)", value, value) : String.valueOf(value);
    return new CorruptImageException(String.format(
        "Invalid %s %s: %s (read at file offset 0x%x)", field, shown, limit, fileOffset));
  }
}
