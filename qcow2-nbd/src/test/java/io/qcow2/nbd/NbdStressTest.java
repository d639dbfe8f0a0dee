package io.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.format.QemuTools;
import io.qcow2.format.SectorPatterns;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Eight writer connections and two reader connections on one export, each with up to eight
 * requests in flight, against a model; the engine runs them in parallel.
 *
 * <p>As qcow2-format's {@code ConcurrentStressTest}: in the first zone each writer owns 1 KiB
 * stripes round-robin, so all of them write (allocate, write in place, zero) in the same 64 KiB
 * clusters at once; in the second each owns 1 MiB, where it also trims and zero-writes whole
 * clusters. Requests a writer has in flight together never overlap (their order is unspecified);
 * a writer checks each read of its own data exactly. The readers read anywhere and require every
 * byte to be zero or what a pattern written for exactly that sector has there (a read racing a
 * write of the same sector may see a mix of both: NBD does not order overlapping requests). At the end {@code qemu-img
 * check} is clean and the file equals the model: every acknowledged write is there.
 *
 * <p>Seed: {@code -Dnbd.stress.seed=N} (printed on failure); bursts per writer: {@code
 * -Dnbd.stress.bursts=N}.
 */
class NbdStressTest {
  private static final long SEED = Long.getLong("nbd.stress.seed", 1717L);
  private static final int BURSTS = Integer.getInteger("nbd.stress.bursts", 120);
  private static final int WRITERS = 8;
  private static final int READERS = 2;
  private static final int IN_FLIGHT = 8;
  private static final int SECTOR = SectorPatterns.SECTOR;
  private static final int CLUSTER = 65536;
  private static final int STRIPE = 1024;
  private static final int STRIPED_ZONE = 4 << 20;
  private static final int OWN_REGION = 1 << 20;
  private static final int SIZE = STRIPED_ZONE + WRITERS * OWN_REGION;

  @TempDir Path dir;

  @Test
  void writersAndReadersOnTenConnectionsAgreeWithTheModel() throws Exception {
    QemuTools.assumeAvailable();
    byte[] model = new byte[SIZE];
    String context = "seed " + SEED;
    ExecutorService pool = Executors.newFixedThreadPool(WRITERS + READERS);
    try (ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(WRITERS + READERS))) {
      AtomicBoolean writing = new AtomicBoolean(true);
      List<Future<Integer>> writers = new ArrayList<>();
      for (int w = 0; w < WRITERS; w++) {
        int writer = w;
        writers.add(pool.submit(() -> runWriter(served, writer, new Random(SEED * 1_000_003 + writer), model)));
      }
      List<Future<Integer>> readers = new ArrayList<>();
      for (int r = 0; r < READERS; r++) {
        Random random = new Random(SEED * 7 + r);
        readers.add(pool.submit(() -> runReader(served, random, writing)));
      }
      int acknowledged = 0;
      try {
        for (Future<Integer> writer : writers) {
          acknowledged += writer.get(10, TimeUnit.MINUTES);
        }
        writing.set(false);
        for (Future<Integer> reader : readers) {
          assertTrue(reader.get(2, TimeUnit.MINUTES) > 0, context + ": a reader checked nothing");
        }
      } catch (ExecutionException e) {
        throw new AssertionError(context + ": " + e.getCause(), e.getCause());
      } finally {
        pool.shutdownNow();
      }
      assertTrue(acknowledged > WRITERS * BURSTS, context + ": only " + acknowledged + " writes");
      assertTrue(served.log.isEmpty(), context + ": server logged " + served.log);
    }
    Path image = dir.resolve("served.qcow2");
    QemuTools.checkClean(image);
    SectorPatterns.assertSameSectors(model, QemuTools.readRaw(image), context + " (qemu-img convert of the file)");
  }

  /** A request in flight and what its success means for the model. */
  private record Sent(CompletableFuture<NbdTestClient.Reply> reply, Runnable onSuccess) {}

  private static int runWriter(ServedImage served, int writer, Random random, byte[] model) throws Exception {
    int acknowledged = 0;
    long version = (long) writer << 32;
    try (NbdTestClient nbd = served.connect()) {
      assertEquals(SIZE, nbd.size);
      assertTrue((nbd.transmissionFlags & Nbd.TF_CAN_MULTI_CONN) != 0);
      for (int burst = 0; burst < BURSTS; burst++) {
        List<Sent> sent = new ArrayList<>();
        // Distinct targets: one's own stripes or own 64 KiB chunks, never two in flight at once.
        int[] stripes = random.ints(0, STRIPED_ZONE / STRIPE / WRITERS).distinct().limit(IN_FLIGHT / 2).toArray();
        int[] chunks = random.ints(0, OWN_REGION / CLUSTER).distinct().limit(IN_FLIGHT / 2).toArray();
        for (int stripe : stripes) {
          long offset = ((long) stripe * WRITERS + writer) * STRIPE;
          int length = random.nextBoolean() ? STRIPE : SECTOR;
          offset += random.nextInt(STRIPE / length) * length;
          sent.add(request(nbd, random, offset, length, ++version, false, model));
        }
        for (int chunk : chunks) {
          long base = STRIPED_ZONE + (long) writer * OWN_REGION + (long) chunk * CLUSTER;
          boolean whole = random.nextInt(3) == 0;
          int first = whole ? 0 : random.nextInt(CLUSTER / SECTOR);
          int sectors = whole ? CLUSTER / SECTOR : 1 + random.nextInt(CLUSTER / SECTOR - first);
          sent.add(request(nbd, random, base + (long) first * SECTOR, sectors * SECTOR, ++version, true, model));
        }
        if (random.nextInt(4) == 0) {
          sent.add(new Sent(nbd.send(Nbd.CMD_FLUSH, 0, 0, 0, null), () -> { }));
        }
        for (int i = 0; i < sent.size(); i++) {
          NbdTestClient.Reply reply = sent.get(i).reply().get(1, TimeUnit.MINUTES);
          assertEquals(0, reply.error(), "writer " + writer + " request " + i + " of burst " + burst);
          sent.get(i).onSuccess().run();
          acknowledged++;
        }
      }
    }
    return acknowledged;
  }

  /** One request on a range this writer alone owns and has nothing else in flight on. */
  private static Sent request(NbdTestClient nbd, Random random, long offset, int length, long version,
      boolean ownRegion, byte[] model) throws Exception {
    int from = (int) offset;
    int op = random.nextInt(ownRegion ? 8 : 6);
    if (op < 3) {
      byte[] data = SectorPatterns.sectors(offset, length, version);
      int flags = random.nextInt(8) == 0 ? Nbd.CMD_FLAG_FUA : 0;
      return new Sent(nbd.send(Nbd.CMD_WRITE, flags, offset, length, data),
          () -> System.arraycopy(data, 0, model, from, length));
    }
    if (op == 3) {
      int flags = random.nextBoolean() ? Nbd.CMD_FLAG_NO_HOLE : 0;
      return new Sent(nbd.send(Nbd.CMD_WRITE_ZEROES, flags, offset, length, null),
          () -> Arrays.fill(model, from, from + length, (byte) 0));
    }
    if (op == 6) {
      // TRIM: whole clusters only (as qemu-nbd); they then read as zeros.
      long first = (offset + CLUSTER - 1) / CLUSTER * CLUSTER;
      long end = (offset + length) / CLUSTER * CLUSTER;
      return new Sent(nbd.send(Nbd.CMD_TRIM, 0, offset, length, null), () -> {
        if (end > first) {
          Arrays.fill(model, (int) first, (int) end, (byte) 0);
        }
      });
    }
    byte[] expected = Arrays.copyOfRange(model, from, from + length);
    CompletableFuture<NbdTestClient.Reply> read = nbd.read(offset, length);
    return new Sent(read, () -> SectorPatterns.assertSameSectors(expected, read.join().data(),
        "read of own data at guest offset " + offset));
  }

  private static int runReader(ServedImage served, Random random, AtomicBoolean writing) throws Exception {
    int checked = 0;
    try (NbdTestClient nbd = served.connect()) {
      while (writing.get()) {
        List<CompletableFuture<NbdTestClient.Reply>> reads = new ArrayList<>();
        long[] firsts = new long[4];
        for (int i = 0; i < firsts.length; i++) {
          int sectors = 1 + random.nextInt(256);
          firsts[i] = random.nextInt(SIZE / SECTOR - sectors + 1);
          reads.add(nbd.read(firsts[i] * SECTOR, sectors * SECTOR));
        }
        for (int i = 0; i < firsts.length; i++) {
          NbdTestClient.Reply reply = reads.get(i).get(1, TimeUnit.MINUTES);
          assertEquals(0, reply.error());
          byte[] data = reply.data();
          for (int at = 0; at < data.length; at += SECTOR) {
            if (!SectorPatterns.plausible(data, at, firsts[i] + at / SECTOR)) {
              fail("a reader found at guest sector " + (firsts[i] + at / SECTOR)
                  + " bytes that are neither zero nor its pattern's: " + SectorPatterns.describe(data, at));
            }
          }
          checked += data.length / SECTOR;
        }
      }
    }
    return checked;
  }
}
