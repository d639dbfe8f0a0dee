package io.qcow2.format;

import static com.google.common.base.Preconditions.checkState;

import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * How the public calls of one {@link Qcow2Image} run (issue 17): under a read/write lock whose
 * exclusive side runs a call alone, after every call in flight has ended, and whose shared side
 * runs reads, in-place writes ({@link AllocatedClusterIo}) and lookups in parallel; plus the short
 * table mutex that serialises the table caches and the overlap checker among the holders of the
 * shared lock.
 *
 * <p>A {@link CorruptionEvent} from below is signalled ({@link CorruptionSignal#signal}) only under
 * the exclusive lock, and the public exception it makes is thrown instead: the signal rewrites the
 * header and reloads every table other threads may be reading. A call under the shared lock that
 * meets one is abandoned and runs again under the exclusive lock, where it meets it again (nothing
 * changed meanwhile that could have removed it but an exclusive call, which then decides) and
 * signals it.
 */
final class CallLocks {
  /*
   * ReentrantReadWriteLock, non-fair: a new reader waits behind a writer at the head of the queue
   * (so a stream of reads does not starve exclusive calls), and a thread holding the exclusive lock
   * may take the shared one (the downgrade in flush). The reverse, exclusive under shared only,
   * would deadlock and is refused.
   */
  private final ReentrantReadWriteLock calls = new ReentrantReadWriteLock();
  /** Serialises table-cache lookups and overlap checks among the holders of the shared lock. */
  final ReentrantLock tableMutex = new ReentrantLock();
  private final CorruptionSignal corruption;

  CallLocks(CorruptionSignal corruption) {
    this.corruption = corruption;
  }

  /** The body of a call. */
  interface Action {
    void run() throws IOException;
  }

  /** The body of a call that returns a value. */
  interface Query<T> {
    T run() throws IOException;
  }

  /** Runs {@code body} alone, after every call in flight has ended; a corruption event signalled. */
  void alone(Action body) throws IOException {
    aloneQuery(() -> {
      body.run();
      return null;
    });
  }

  /** As {@link #alone(Action)}, returning what {@code body} returns. */
  <T> T aloneQuery(Query<T> body) throws IOException {
    checkNotSharedOnly();
    calls.writeLock().lock();
    try {
      return signalling(body);
    } finally {
      calls.writeLock().unlock();
    }
  }

  /** Runs {@code body}, a corruption event from below signalled instead (exclusive lock only). */
  private <T> T signalling(Query<T> body) throws IOException {
    assert calls.isWriteLockedByCurrentThread();
    try {
      return body.run();
    } catch (CorruptionEvent e) {
      throw corruption.signal(e);
    }
  }

  /**
   * Runs {@code checks} then {@code inParallel} under the shared lock; if that declines (returns
   * false, having written nothing) or meets a corruption event, runs {@code checks} again (the
   * image may have changed meanwhile) then {@code alone}, under the exclusive lock.
   */
  void inParallelOrAlone(Action checks, Query<Boolean> inParallel, Action alone) throws IOException {
    if (shared(() -> {
      checks.run();
      return inParallel.run() ? Boolean.TRUE : null;
    }) == null) {
      alone(() -> {
        checks.run();
        alone.run();
      });
    }
  }

  /**
   * Runs a lookup that walks the table caches ({@code map}, {@code extentAt}) under the shared lock
   * and the table mutex; if it meets a corruption event, again alone, which signals it.
   */
  <T> T lookup(Query<T> body) throws IOException {
    T result = shared(() -> {
      tableMutex.lock();
      try {
        return body.run();
      } finally {
        tableMutex.unlock();
      }
    });
    return result != null ? result : aloneQuery(body);
  }

  /**
   * Runs {@code body} under the shared lock; null when it must run again alone: it returned null
   * (it declined), it met a corruption event, or this thread holds the exclusive lock already.
   */
  private <T> T shared(Query<T> body) throws IOException {
    if (calls.isWriteLockedByCurrentThread()) {
      return null;
    }
    calls.readLock().lock();
    try {
      return body.run();
    } catch (CorruptionEvent e) {
      if (calls.getReadHoldCount() > 1) {
        throw e; // nested in a shared call of this image: the outermost one goes alone
      }
      return null;
    } finally {
      calls.readLock().unlock();
    }
  }

  /**
   * Runs {@code commit} alone and, if it returns true, {@code force} under the shared lock, taken
   * before the exclusive one is released (a downgrade): no exclusive call runs between the two,
   * and shared calls run during the force (flush).
   */
  void aloneThenShared(Query<Boolean> commit, Action force) throws IOException {
    checkNotSharedOnly();
    boolean forceNext;
    calls.writeLock().lock();
    try {
      forceNext = signalling(commit);
      calls.readLock().lock();
    } finally {
      calls.writeLock().unlock();
    }
    try {
      if (forceNext) {
        force.run();
      }
    } finally {
      calls.readLock().unlock();
    }
  }

  /** {@code value} read under the shared lock (the image's state, written under the exclusive one). */
  <T> T sharedValue(Supplier<T> value) {
    calls.readLock().lock();
    try {
      return value.get();
    } finally {
      calls.readLock().unlock();
    }
  }

  /** Takes the shared lock for a short read of the image's state; release with {@link #unlockShared}. */
  void lockShared() {
    calls.readLock().lock();
  }

  void unlockShared() {
    calls.readLock().unlock();
  }

  /** A shared lock cannot be upgraded: taking the exclusive one under it would deadlock. */
  private void checkNotSharedOnly() {
    checkState(calls.getReadHoldCount() == 0 || calls.isWriteLockedByCurrentThread(),
        "Qcow2Image: a call that runs alone made while this thread holds only the shared lock");
  }
}
