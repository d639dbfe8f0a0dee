package io.qcow2.format;

/**
 * A call on a {@link Qcow2Image} started while another thread's call on it was still in flight.
 *
 * @deprecated the engine no longer throws it: since issue 17 every public call of {@link
 *     Qcow2Image} is thread-safe (see its class comment, "Threads"), so a second call in flight
 *     waits or runs in parallel instead of being refused. Kept so that code catching it still
 *     compiles (the public API only grows, issue 14).
 */
@Deprecated
public final class ConcurrentUseException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public ConcurrentUseException(String message) {
    super(message);
  }
}
