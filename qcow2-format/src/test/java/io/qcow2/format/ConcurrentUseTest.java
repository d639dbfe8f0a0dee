package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@link Qcow2Image} used by several threads at once refuses the second call in flight with a
 * {@link ConcurrentUseException} and takes no damage; calls serialised by the caller's own lock all
 * pass. Each thread owns one guest region (its own pattern per write), so what it reads back is
 * exactly its own last write that returned normally. Seeded: {@code -Dqcow2.concurrent.seed=N}.
 */
class ConcurrentUseTest {
  private static final long SEED = Long.getLong("qcow2.concurrent.seed", 8L);
  private static final int THREADS = 8;
  private static final int CALLS_PER_THREAD = 400;
  private static final int REGION = 256 << 10;
  private static final int CLUSTER = 4096;

  @TempDir Path dir;

  /** What one thread did: its region's expected content and its counts. */
  private static final class Worker {
    final int index;
    final byte[] expected = new byte[REGION];
    int succeeded;
    int refused;
    Throwable failure;

    Worker(int index) {
      this.index = index;
    }

    long base() {
      return (long) index * REGION;
    }
  }

  /** A call on the image; {@code lock} is null for the unsynchronised run. */
  private interface Call {
    void run() throws IOException;
  }

  private static void call(ReentrantLock lock, Worker worker, Call call, Runnable onSuccess)
      throws IOException {
    if (lock != null) {
      lock.lock();
    }
    try {
      call.run();
      worker.succeeded++;
      onSuccess.run();
    } catch (ConcurrentUseException e) {
      assertTrue(e.getMessage().contains("Qcow2Image is not thread-safe"), e.getMessage());
      worker.refused++;
    } finally {
      if (lock != null) {
        lock.unlock();
      }
    }
  }

  /** Writes, zero writes, discards and reads of random clusters in the thread's region. */
  private static void hammer(Qcow2Image image, ReentrantLock lock, Worker worker, Random random)
      throws IOException {
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
      int at = random.nextInt(REGION / CLUSTER) * CLUSTER + (random.nextBoolean() ? 0 : 512);
      int length = Math.min(REGION - at, CLUSTER * (1 + random.nextInt(3)) - 512 * random.nextInt(2));
      long offset = worker.base() + at;
      switch (random.nextInt(6)) {
        case 0, 1, 2: {
          byte[] data = new byte[length];
          Arrays.fill(data, (byte) (worker.index * 31 + i));
          call(lock, worker, () -> image.write(offset, data, 0, length),
              () -> System.arraycopy(data, 0, worker.expected, at, length));
          break;
        }
        case 3: {
          call(lock, worker, () -> image.writeZeroes(offset, length),
              () -> Arrays.fill(worker.expected, at, at + length, (byte) 0));
          break;
        }
        default: {
          byte[] read = new byte[length];
          call(lock, worker, () -> image.read(offset, read, 0, length), () -> assertArrayEquals(
              Arrays.copyOfRange(worker.expected, at, at + length), read,
              "thread " + worker.index + " read at " + offset));
        }
      }
    }
  }

  private List<Worker> run(Qcow2Image image, ReentrantLock lock, long seed) throws Exception {
    List<Worker> workers = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    CyclicBarrier start = new CyclicBarrier(THREADS);
    for (int t = 0; t < THREADS; t++) {
      Worker worker = new Worker(t);
      workers.add(worker);
      Random random = new Random(seed * 31 + t);
      Thread thread = new Thread(() -> {
        try {
          start.await();
          hammer(image, lock, worker, random);
        } catch (Throwable e) {
          worker.failure = e;
        }
      }, "hammer-" + t);
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) {
      thread.join(120_000);
      assertTrue(!thread.isAlive(), thread.getName() + " hung");
    }
    for (Worker worker : workers) {
      if (worker.failure != null) {
        throw new AssertionError("thread " + worker.index + " failed (seed " + seed + ")",
            worker.failure);
      }
    }
    return workers;
  }

  /** Every thread's region holds exactly what its successful calls wrote. */
  private static void assertContent(Qcow2Image image, List<Worker> workers) throws IOException {
    for (Worker worker : workers) {
      byte[] read = new byte[REGION];
      image.read(worker.base(), read, 0, REGION);
      assertArrayEquals(worker.expected, read, "region of thread " + worker.index);
    }
  }

  @Test
  void unsynchronisedCallsAreRefusedWithoutDamage() throws Exception {
    QemuTools.assumeAvailable();
    int refused = 0;
    for (int round = 0; round < 3; round++) {
      Path path = dir.resolve("unsynchronised-" + round + ".qcow2");
      long seed = SEED + round;
      List<Worker> workers;
      try (Qcow2Image image = Qcow2Image.create(path, THREADS * (long) REGION,
          Map.of("cluster_size", String.valueOf(CLUSTER)), TestOptions.open())) {
        workers = run(image, null, seed);
        assertContent(image, workers);
      }
      for (Worker worker : workers) {
        refused += worker.refused;
        assertEquals(CALLS_PER_THREAD, worker.succeeded + worker.refused);
      }
      QemuTools.checkClean(path);
      try (Qcow2Image image = Qcow2Image.open(path, TestOptions.open(), false)) {
        assertContent(image, workers);
      }
    }
    System.out.printf("ConcurrentUseTest: %d of %d calls refused (seed %d)%n", refused,
        3 * THREADS * CALLS_PER_THREAD, SEED);
    assertTrue(refused > 0, "8 threads never overlapped: the test proves nothing (seed " + SEED
        + ")");
  }

  @Test
  void callsSerialisedByTheCallersLockAllPass() throws Exception {
    QemuTools.assumeAvailable();
    Path path = dir.resolve("locked.qcow2");
    ReentrantLock lock = new ReentrantLock();
    List<Worker> workers;
    try (Qcow2Image image = Qcow2Image.create(path, THREADS * (long) REGION,
        Map.of("cluster_size", String.valueOf(CLUSTER)), TestOptions.open())) {
      workers = run(image, lock, SEED);
      assertContent(image, workers);
    }
    for (Worker worker : workers) {
      assertEquals(0, worker.refused, "thread " + worker.index);
      assertEquals(CALLS_PER_THREAD, worker.succeeded);
    }
    QemuTools.checkClean(path);
  }

  /**
   * The claim every public call of the image takes: a second thread is refused while the first
   * holds it, with a message naming both calls; the same thread nests; after release anyone passes.
   */
  @Test
  void aCallWhileAnotherIsInFlightIsRefusedAndNamesBoth() throws Exception {
    InFlightCalls calls = new InFlightCalls("Qcow2Image");
    CountDownLatch inside = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Thread holder = new Thread(() -> {
      try (InFlightCalls call = calls.enter("write")) {
        inside.countDown();
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "holder");
    holder.start();
    inside.await();
    ConcurrentUseException e = assertThrows(ConcurrentUseException.class,
        () -> calls.enter("read"));
    assertEquals("Concurrent call to Qcow2Image.read while write is in flight in thread holder: "
        + "Qcow2Image is not thread-safe; serialise the calls (e.g. with a lock)", e.getMessage());
    release.countDown();
    holder.join();
    try (InFlightCalls call = calls.enter("map")) {
      try (InFlightCalls nested = calls.enter("extentAt")) {
        assertEquals(call, nested);
      }
    }
    Thread later = new Thread(() -> calls.enter("flush").close(), "later");
    later.start();
    later.join();
    calls.enter("close").close();
  }
}
