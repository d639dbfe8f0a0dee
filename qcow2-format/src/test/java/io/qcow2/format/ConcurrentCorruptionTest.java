package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A corruption event while other threads' reads and in-place writes are in flight, as on a live
 * NBD export: guest cluster 0's L2 entry points at the active L1 table (COPIED, as if owned, so
 * the write takes the parallel path until its overlap check fires). Eight threads write and read
 * their own allocated clusters while one of them writes through the bad entry. Exactly one call
 * fails with the overlap; the image is marked corrupt once; every write that starts after that
 * failure fails with {@link ReadOnlyImageException}; reads go on and return every write that
 * returned normally; the L1 table's bytes are untouched. Seed: {@code -Dqcow2.corruption.seed=N}.
 */
class ConcurrentCorruptionTest {
  private static final long SEED = Long.getLong("qcow2.corruption.seed", 60L);
  private static final int CLUSTER = 4096;
  private static final int THREADS = 8;
  private static final int OWN_CLUSTERS = 8;
  private static final int ROUNDS = 300;

  @org.junit.jupiter.api.io.TempDir Path dir;


  @ParameterizedTest
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void oneOverlapMarksTheImageCorruptLaterWritesFailReadsGoOn(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("live.qcow2");
    byte[] model = new byte[THREADS * OWN_CLUSTERS * CLUSTER];
    long base = 16L * CLUSTER;
    try (Qcow2Image image = Qcow2Image.create(img, 4 << 20, Map.of("cluster_size", String.valueOf(CLUSTER)),
        TestOptions.open(strategy))) {
      image.write(0, new byte[CLUSTER], 0, CLUSTER);
      new Random(SEED).nextBytes(model);
      image.write(base, model, 0, model.length);
    }
    long l1Offset = ImageFiles.readLong(img, 40);
    long l2Offset = ImageFiles.readLong(img, l1Offset) & TableEntry.L1_OFFSET_MASK;
    ImageFiles.writeLong(img, l2Offset, l1Offset | TableEntry.COPIED);
    byte[] l1Before = Arrays.copyOfRange(Files.readAllBytes(img), (int) l1Offset, (int) l1Offset + CLUSTER);

    AtomicBoolean corrupted = new AtomicBoolean();
    AtomicInteger overlaps = new AtomicInteger();
    AtomicInteger refusedAfter = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    String context = "seed " + SEED + ", strategy " + strategy;
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      CyclicBarrier start = new CyclicBarrier(THREADS);
      List<Future<?>> threads = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int thread = t;
        Random random = new Random(SEED * 31 + t);
        threads.add(pool.submit(() -> {
          start.await();
          int corruptAt = ROUNDS / 3 + random.nextInt(ROUNDS / 3);
          for (int round = 0; round < ROUNDS; round++) {
            if (thread == 0 && round == corruptAt) {
              MetadataOverlapException e = assertThrows(MetadataOverlapException.class,
                  () -> image.write(512, new byte[] {1, 2, 3, 4}, 0, 4));
              assertTrue(e.getMessage().endsWith("image marked as corrupt"), e.getMessage());
              assertEquals(io.qcow2.overlap.MetadataType.ACTIVE_L1.mask(), Integer.lowestOneBit(e.typeMask()));
              overlaps.incrementAndGet();
              corrupted.set(true);
              continue;
            }
            int at = (thread * OWN_CLUSTERS + random.nextInt(OWN_CLUSTERS)) * CLUSTER + 512 * random.nextInt(7);
            int length = 512 * (1 + random.nextInt(2));
            if (random.nextBoolean()) {
              byte[] data = new byte[length];
              random.nextBytes(data);
              boolean after = corrupted.get();
              try {
                image.write(base + at, data, 0, length);
                assertTrue(!after, "a write that started after the corruption event succeeded");
                System.arraycopy(data, 0, model, at, length);
              } catch (ReadOnlyImageException e) {
                refusedAfter.incrementAndGet();
              }
            } else {
              byte[] read = new byte[length];
              image.read(base + at, read, 0, length);
              assertArrayEquals(Arrays.copyOfRange(model, at, at + length), read,
                  "thread " + thread + " read at " + (base + at));
            }
          }
          return null;
        }));
      }
      try {
        for (Future<?> thread : threads) {
          thread.get(5, TimeUnit.MINUTES);
        }
      } catch (java.util.concurrent.ExecutionException e) {
        throw new AssertionError(context + ": " + e.getCause(), e.getCause());
      } finally {
        pool.shutdownNow();
      }
      assertEquals(1, overlaps.get(), context);
      assertTrue(refusedAfter.get() > 0, context + ": no write came after the event");
      assertTrue(image.info().corrupt(), context);
      assertTrue(!image.isWritable(), context);
      byte[] all = new byte[model.length];
      image.read(base, all, 0, all.length);
      assertArrayEquals(model, all, context + ": reads after the event");
    }
    assertArrayEquals(l1Before, Arrays.copyOfRange(Files.readAllBytes(img), (int) l1Offset, (int) l1Offset + CLUSTER),
        context + ": the L1 table changed");
    String info = QemuTools.runMerged("qemu-img", "info", img.toString());
    assertTrue(info.contains("corrupt: true"), context + ": " + info);
  }
}
