package io.qcow2.format;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Detects a second call in flight on an object that is not thread-safe: {@link #enter} claims the
 * object for the calling thread (calls on the same thread nest), and a call from another thread
 * while it is claimed is refused with a {@link ConcurrentUseException} before it does anything.
 * Calls from different threads one after the other (serialised by the caller) all pass. One
 * compare-and-set per call, no allocation.
 */
final class InFlightCalls implements AutoCloseable {
  private final String owner;
  private final AtomicReference<Thread> thread = new AtomicReference<>();
  /** Nesting depth; only the thread holding the claim touches it. */
  private int depth;
  /** The outermost operation in flight, for the message (read racily by refused threads). */
  private volatile String operation;

  /** {@code owner} names the guarded object in messages, e.g. {@code "Qcow2Image"}. */
  InFlightCalls(String owner) {
    this.owner = owner;
  }

  /**
   * Claims the object for {@code operation} on the current thread; close the result (this) when
   * the call ends.
   *
   * @throws ConcurrentUseException if another thread's call is in flight
   */
  InFlightCalls enter(String operation) {
    Thread current = Thread.currentThread();
    if (thread.get() != current) {
      if (!thread.compareAndSet(null, current)) {
        Thread other = thread.get();
        throw new ConcurrentUseException(String.format(
            "Concurrent call to %s.%s while %s is in flight%s: %s is not thread-safe; "
                + "serialise the calls (e.g. with a lock)", owner, operation, this.operation,
            other == null ? "" : " in thread " + other.getName(), owner));
      }
      this.operation = operation;
    }
    depth++;
    return this;
  }

  /** Ends the current call; the outermost one releases the object. */
  @Override
  public void close() {
    assert thread.get() == Thread.currentThread() : "close without enter";
    if (--depth == 0) {
      thread.set(null);
    }
  }
}
