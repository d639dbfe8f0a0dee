package io.qcow2.format;

/**
 * A call on a {@link Qcow2Image} started while another call on it was still in flight: the image
 * is not thread-safe. The refused call did nothing; the one in flight is not disturbed. Callers
 * that share an image between threads serialise their calls (for example with a lock).
 */
public final class ConcurrentUseException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public ConcurrentUseException(String message) {
    super(message);
  }
}
