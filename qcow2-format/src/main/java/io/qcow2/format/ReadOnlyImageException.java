package io.qcow2.format;

/** A write on an image opened read-only, or after a corruption event made it read-only. */
public final class ReadOnlyImageException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  public ReadOnlyImageException(String message) {
    super(message);
  }
}
