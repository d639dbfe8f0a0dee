package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Eight writers and two readers on one {@link Qcow2Image} at once, against a model.
 *
 * <p>The guest disk has two zones. In the first, sectors are owned in 1 KiB stripes round-robin,
 * so every cluster is shared by all writers: their partial writes allocate, copy and write in
 * place in the same clusters and L2 tables at once. In the second each writer owns 1 MiB and
 * writes, zero-writes and discards whole and partial clusters there. A writer checks every read of
 * its own sectors exactly against its model (nobody else writes them). The readers read anywhere:
 * every byte they see is zero or what a pattern written for exactly that sector has there
 * ({@link SectorPatterns}; a read racing a write of the same sector may see a mix of both), so a
 * write landing on another guest offset, on metadata, or metadata read as data is caught while it
 * races. Writers flush now and then, writer 0 also creates and deletes internal snapshots (after
 * which the next write of each cluster copies it: COPIED is cleared); readers ask for extents. At the end every sector equals the model (every acknowledged write is
 * readable), through the engine and through {@code qemu-img convert}, and {@code qemu-img check}
 * is clean.
 *
 * <p>Seed: {@code -Dqcow2.stress.seed=N}; operations per writer: {@code -Dqcow2.stress.ops=N}.
 * The seed is printed on failure.
 */
class ConcurrentStressTest {
  private static final long SEED = Long.getLong("qcow2.stress.seed", 17L);
  private static final int OPS = Integer.getInteger("qcow2.stress.ops", 400);
  private static final int WRITERS = 8;
  private static final int READERS = 2;
  private static final int SECTOR = SectorPatterns.SECTOR;
  private static final int STRIPE = 1024;
  private static final int STRIPED_ZONE = 4 << 20;
  private static final int OWN_REGION = 1 << 20;
  private static final int SIZE = STRIPED_ZONE + WRITERS * OWN_REGION;

  @org.junit.jupiter.api.io.TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=4096", "cluster_size=65536,lazy_refcounts=on"})
  void writersAndReadersAgreeWithTheModel(String createOptions) throws Exception {
    QemuTools.assumeAvailable();
    Path path = dir.resolve("stress.qcow2");
    Map<String, String> create = new java.util.HashMap<>();
    for (String option : createOptions.split(",")) {
      String[] kv = option.split("=");
      create.put(kv[0], kv[1]);
    }
    int clusterSize = Integer.parseInt(create.get("cluster_size"));
    byte[] model = new byte[SIZE];
    String context = "seed " + SEED + ", " + createOptions;
    ExecutorService pool = Executors.newFixedThreadPool(WRITERS + READERS);
    try (Qcow2Image image = Qcow2Image.create(path, SIZE, create, TestOptions.open())) {
      AtomicBoolean writing = new AtomicBoolean(true);
      CyclicBarrier start = new CyclicBarrier(WRITERS + READERS);
      List<Future<Integer>> writers = new ArrayList<>();
      for (int w = 0; w < WRITERS; w++) {
        Writer writer = new Writer(image, w, clusterSize, model, new Random(SEED * 1_000_003 + w));
        writers.add(pool.submit(() -> {
          start.await();
          writer.run();
          return writer.acknowledged;
        }));
      }
      List<Future<Integer>> readers = new ArrayList<>();
      for (int r = 0; r < READERS; r++) {
        Random random = new Random(SEED * 7 + r);
        readers.add(pool.submit(() -> {
          start.await();
          return readAnywhere(image, random, writing);
        }));
      }
      int acknowledged = 0;
      try {
        for (Future<Integer> writer : writers) {
          acknowledged += writer.get(10, TimeUnit.MINUTES);
        }
        writing.set(false);
        int sectorsChecked = 0;
        for (Future<Integer> reader : readers) {
          sectorsChecked += reader.get(1, TimeUnit.MINUTES);
        }
        assertTrue(sectorsChecked > 0, "the readers checked nothing");
      } catch (java.util.concurrent.ExecutionException e) {
        throw new AssertionError(context + ": " + e.getCause(), e.getCause());
      }
      assertTrue(acknowledged > WRITERS * OPS / 2, context + ": only " + acknowledged + " writes");
      byte[] all = new byte[SIZE];
      image.read(0, all, 0, SIZE);
      SectorPatterns.assertSameSectors(model, all, context + " (engine, before close)");
    }
    QemuTools.checkClean(path);
    SectorPatterns.assertSameSectors(model, QemuTools.readRaw(path), context + " (qemu-img convert)");
    try (Qcow2Image image = Qcow2Image.open(path, TestOptions.open(), false)) {
      byte[] all = new byte[SIZE];
      image.read(0, all, 0, SIZE);
      SectorPatterns.assertSameSectors(model, all, context + " (engine, reopened)");
    }
  }

  private static int readAnywhere(Qcow2Image image, Random random, AtomicBoolean writing) throws IOException {
    int checked = 0;
    byte[] buf = new byte[64 << 10];
    while (writing.get()) {
      int sectors = 1 + random.nextInt(buf.length / SECTOR);
      int first = random.nextInt(SIZE / SECTOR - sectors + 1);
      image.read((long) first * SECTOR, buf, 0, sectors * SECTOR);
      for (int s = 0; s < sectors; s++) {
        if (!SectorPatterns.plausible(buf, s * SECTOR, first + s)) {
          fail("a reader found at guest sector " + (first + s) + " bytes that are neither zero nor its pattern's: "
              + SectorPatterns.describe(buf, s * SECTOR));
        }
      }
      checked += sectors;
      if (random.nextInt(8) == 0) {
        long at = (long) random.nextInt(SIZE / SECTOR) * SECTOR;
        Extent e = image.extentAt(at, SIZE - at);
        assertTrue(e.length() > 0 && e.guestOffset() == at, "extent " + e);
      }
    }
    return checked;
  }

  /** One writer: its stripes of the shared zone and its own region, with its model. */
  private static final class Writer {
    private final Qcow2Image image;
    private final int index;
    private final int clusterSize;
    private final byte[] model;
    private final Random random;
    private int version;
    int acknowledged;

    Writer(Qcow2Image image, int index, int clusterSize, byte[] model, Random random) {
      this.image = image;
      this.index = index;
      this.clusterSize = clusterSize;
      this.model = model;
      this.random = random;
    }

    private long nextVersion() {
      return ((long) index << 32) | ++version;
    }

    private byte[] patterned(long offset, int length) {
      return SectorPatterns.sectors(offset, length, nextVersion());
    }

    private void check(long offset, int length) throws IOException {
      byte[] read = new byte[length];
      image.read(offset, read, 0, length);
      if (!Arrays.equals(model, (int) offset, (int) offset + length, read, 0, length)) {
        for (int at = 0; at < length; at += SECTOR) {
          if (!Arrays.equals(model, (int) offset + at, (int) offset + at + SECTOR, read, at, at + SECTOR)) {
            fail("writer " + index + " read its sector " + (offset + at) / SECTOR + " back wrong: expected "
                + SectorPatterns.describe(model, (int) offset + at) + ", found " + SectorPatterns.describe(read, at));
          }
        }
      }
    }

    void run() throws IOException {
      for (int op = 0; op < OPS; op++) {
        if (random.nextBoolean()) {
          stripeOp();
        } else {
          regionOp();
        }
        if (random.nextInt(50) == 0) {
          image.flush();
        }
        if (index == 0 && random.nextInt(100) == 0) {
          image.createSnapshot("s" + op);
          List<SnapshotInfo> snapshots = image.listSnapshots();
          if (snapshots.size() > 2) {
            image.deleteSnapshot(snapshots.get(0).id());
          }
        }
      }
    }

    /** A write, zero write or read of one or two of this writer's stripes in the shared zone. */
    private void stripeOp() throws IOException {
      int stripes = STRIPED_ZONE / STRIPE / WRITERS;
      long offset = ((long) random.nextInt(stripes) * WRITERS + index) * STRIPE;
      int length = random.nextBoolean() ? STRIPE : SECTOR;
      offset += random.nextInt(STRIPE / length) * length;
      switch (random.nextInt(5)) {
        case 0, 1, 2 -> write(offset, length);
        case 3 -> writeZeroes(offset, length);
        default -> check(offset, length);
      }
    }

    /** Writes this range's pattern and records it in the model once acknowledged. */
    private void write(long offset, int length) throws IOException {
      byte[] data = patterned(offset, length);
      image.write(offset, data, 0, length);
      System.arraycopy(data, 0, model, (int) offset, length);
      acknowledged++;
    }

    /** Zeroes the range and records it in the model once acknowledged. */
    private void writeZeroes(long offset, int length) throws IOException {
      image.writeZeroes(offset, length);
      Arrays.fill(model, (int) offset, (int) offset + length, (byte) 0);
      acknowledged++;
    }

    /** A write, zero write, discard or read in this writer's own region. */
    private void regionOp() throws IOException {
      long base = STRIPED_ZONE + (long) index * OWN_REGION;
      int sectors = 1 + random.nextInt(3 * clusterSize / SECTOR);
      int first = random.nextInt(OWN_REGION / SECTOR - sectors + 1);
      if (random.nextInt(3) == 0) {
        first -= first % (clusterSize / SECTOR); // cluster-aligned: whole-cluster paths
      }
      long offset = base + (long) first * SECTOR;
      int length = sectors * SECTOR;
      switch (random.nextInt(8)) {
        case 0, 1, 2 -> write(offset, length);
        case 3 -> writeZeroes(offset, length);
        case 4 -> {
          image.discard(offset, length);
          // Whole clusters only (partial ones are left alone, as QEMU); they then read as zeros.
          long from = (offset + clusterSize - 1) / clusterSize * clusterSize;
          long to = (offset + length) / clusterSize * clusterSize;
          if (to > from) {
            Arrays.fill(model, (int) from, (int) to, (byte) 0);
          }
        }
        default -> check(offset, length);
      }
    }
  }
}
