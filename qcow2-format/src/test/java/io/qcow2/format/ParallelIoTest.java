package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads and in-place writes of allocated clusters run in parallel: the host I/O below the engine
 * ({@link BlockingHostIo}) holds one thread inside its data pread or pwrite on a latch, and other
 * threads' reads and in-place writes of other clusters complete meanwhile. Calls that must run
 * alone (an allocating write, flush, close) wait until the held one is released. Latches, not
 * timings: the timeouts below only turn a hang (the property broken) into a failure.
 */
class ParallelIoTest {
  private static final int CLUSTER = 65536;
  /** Generous: only reached when a call that should complete is blocked (a failure). */
  private static final long HANG_SECONDS = 60;

  @TempDir Path dir;
  private ExecutorService threads;
  private BlockingHostIo io;
  private Qcow2Image image;
  /** Host offsets of guest clusters 0..3, allocated before each test. */
  private final long[] host = new long[4];

  /** The image file's I/O, with one position whose read or write waits on a latch. */
  static final class BlockingHostIo implements HostIo {
    private final HostIo file;
    volatile long blockReadAt = -1;
    volatile long blockWriteAt = -1;
    volatile boolean forcedWhileHeld;
    final CountDownLatch held = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    private volatile boolean holding;

    BlockingHostIo(HostIo file) {
      this.file = file;
    }

    private void holdIf(long position, long blockAt) throws IOException {
      if (position == blockAt) {
        holding = true;
        held.countDown();
        try {
          if (!release.await(HANG_SECONDS, TimeUnit.SECONDS)) {
            throw new IOException("never released");
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(e);
        } finally {
          holding = false;
        }
      }
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
      holdIf(position, blockReadAt);
      return file.read(dst, position);
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
      holdIf(position, blockWriteAt);
      return file.write(src, position);
    }

    @Override
    public long size() throws IOException {
      return file.size();
    }

    @Override
    public void setLength(long length) throws IOException {
      file.setLength(length);
    }

    @Override
    public void force(boolean metadata) throws IOException {
      if (holding) {
        forcedWhileHeld = true;
      }
      file.force(metadata);
    }

    @Override
    public void close() throws IOException {
      file.close();
    }
  }

  @BeforeEach
  void allocateFourClusters() throws IOException {
    Path path = dir.resolve("parallel.qcow2");
    try (Qcow2Image created = Qcow2Image.create(path, 64L << 20,
        Map.of("cluster_size", String.valueOf(CLUSTER)), TestOptions.open())) {
      for (int c = 0; c < host.length; c++) {
        created.write((long) c * CLUSTER, pattern(c, CLUSTER), 0, CLUSTER);
      }
      for (int c = 8; c < 10; c++) {
        created.writeCompressed((long) c * CLUSTER, pattern(c, CLUSTER), 0, CLUSTER);
      }
    }
    image = Qcow2Image.open(path, TestOptions.open(), true, (p, writable) -> {
      io = new BlockingHostIo(HostIo.FILES.open(p, writable));
      return io;
    });
    for (int c = 0; c < host.length; c++) {
      Extent e = image.extentAt((long) c * CLUSTER, CLUSTER);
      assertEquals(Extent.Kind.DATA, e.kind());
      host[c] = e.hostOffset();
    }
    threads = Executors.newCachedThreadPool();
  }

  @AfterEach
  void release() throws IOException {
    io.release.countDown();
    threads.shutdownNow();
    image.close();
  }

  private static byte[] pattern(int seed, int length) {
    byte[] data = new byte[length];
    Arrays.fill(data, (byte) (0x40 + seed));
    return data;
  }

  private static <T> T done(Future<T> call) throws Exception {
    try {
      return call.get(HANG_SECONDS, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new AssertionError("a call that should run in parallel was held back", e);
    }
  }

  private void awaitHeld() throws InterruptedException {
    assertTrue(io.held.await(HANG_SECONDS, TimeUnit.SECONDS), "the held call never reached its I/O");
  }

  private byte[] read(long offset, int length) throws IOException {
    byte[] buf = new byte[length];
    image.read(offset, buf, 0, length);
    return buf;
  }

  @Test
  void aReadHeldInItsPreadDoesNotHoldBackReadsAndInPlaceWritesOfOtherClusters() throws Exception {
    io.blockReadAt = host[0];
    Future<byte[]> held = threads.submit(() -> read(0, 4096));
    awaitHeld();

    assertArrayEquals(pattern(1, 4096), done(threads.submit(() -> read(CLUSTER, 4096))));
    done(threads.submit(() -> {
      image.write(2L * CLUSTER + 512, pattern(9, 1024), 0, 1024);
      return null;
    }));
    assertArrayEquals(pattern(9, 1024), done(threads.submit(() -> read(2L * CLUSTER + 512, 1024))));
    assertFalse(held.isDone());

    io.release.countDown();
    assertArrayEquals(pattern(0, 4096), done(held));
  }

  @Test
  void compressedClustersAreReadInParallel() throws Exception {
    Extent first = image.extentAt(8L * CLUSTER, CLUSTER);
    Extent second = image.extentAt(9L * CLUSTER, CLUSTER);
    assertEquals(Extent.Kind.COMPRESSED, first.kind());
    assertEquals(Extent.Kind.COMPRESSED, second.kind());
    io.blockReadAt = first.hostOffset();
    Future<byte[]> held = threads.submit(() -> read(8L * CLUSTER, CLUSTER));
    awaitHeld();

    assertArrayEquals(pattern(9, CLUSTER), done(threads.submit(() -> read(9L * CLUSTER, CLUSTER))));
    assertArrayEquals(pattern(9, 512), done(threads.submit(() -> read(9L * CLUSTER + 4096, 512))));
    assertFalse(held.isDone());

    io.release.countDown();
    assertArrayEquals(pattern(8, CLUSTER), done(held));
    assertArrayEquals(pattern(8, 512), read(8L * CLUSTER + 512, 512));
  }

  @Test
  void aWriteHeldInItsPwriteDoesNotHoldBackOthersAndIsReadAfterwards() throws Exception {
    io.blockWriteAt = host[1] + 4096;
    Future<?> held = threads.submit(() -> {
      image.write(CLUSTER + 4096, pattern(7, 8192), 0, 8192);
      return null;
    });
    awaitHeld();

    assertArrayEquals(pattern(0, CLUSTER), done(threads.submit(() -> read(0, CLUSTER))));
    done(threads.submit(() -> {
      image.write(3L * CLUSTER, pattern(8, CLUSTER), 0, CLUSTER);
      return null;
    }));
    assertArrayEquals(pattern(8, CLUSTER), done(threads.submit(() -> read(3L * CLUSTER, CLUSTER))));
    assertFalse(held.isDone());

    io.release.countDown();
    done(held);
    byte[] expected = pattern(1, CLUSTER);
    System.arraycopy(pattern(7, 8192), 0, expected, 4096, 8192);
    assertArrayEquals(expected, read(CLUSTER, CLUSTER));
  }

  /**
   * An allocating write, a flush and a close run alone: each waits for the held read, and the
   * flush's force never runs while a data write is held.
   */
  @Test
  void exclusiveCallsWaitForTheCallsInFlight() throws Exception {
    io.blockWriteAt = host[2];
    Future<?> held = threads.submit(() -> {
      image.write(2L * CLUSTER, pattern(5, 512), 0, 512);
      return null;
    });
    awaitHeld();
    // Shared calls first: once an exclusive call waits, new shared calls queue behind it.
    assertArrayEquals(pattern(3, 512), done(threads.submit(() -> read(3L * CLUSTER, 512))));

    Future<?> allocating = threads.submit(() -> {
      image.write(10L * CLUSTER, pattern(6, 512), 0, 512);
      return null;
    });
    Future<?> flush = threads.submit(() -> {
      image.flush();
      return null;
    });
    assertThrows(TimeoutException.class, () -> allocating.get(200, TimeUnit.MILLISECONDS));
    assertFalse(flush.isDone());

    io.release.countDown();
    done(held);
    done(allocating);
    done(flush);
    assertFalse(io.forcedWhileHeld, "flush forced the file while a write was in flight");
    assertArrayEquals(pattern(6, 512), read(10L * CLUSTER, 512));
    assertArrayEquals(pattern(5, 512), read(2L * CLUSTER, 512));
  }
}
