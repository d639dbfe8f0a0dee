package io.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Eight clients, each on its own connection with up to eight requests in flight, write, zero, read
 * and flush 4 KiB blocks interleaved with each other's (so they allocate in the same clusters and
 * L2 tables at once). Each client owns every eighth block, keeps a model of it and checks every read
 * against it; at the end the image is checked by {@code qemu-img check} and every acknowledged
 * write is read back from the file by qemu-img. Seed: {@code -Dnbd.seed=N} (printed on failure).
 */
class ConcurrentClientsTest {
  private static final int CLIENTS = 8;
  private static final int BLOCK = 4096;
  private static final int SIZE = 32 << 20;
  private static final int BLOCKS = SIZE / BLOCK;
  private static final int BURSTS = Integer.getInteger("nbd.bursts", 150);
  private static final int IN_FLIGHT = 8;

  @TempDir Path dir;

  @Test
  void eightClientsWithRequestsInFlightAgreeWithTheModel() throws Exception {
    QemuTools.assumeAvailable();
    long seed = Long.getLong("nbd.seed", 20261130L);
    byte[] model = new byte[SIZE];
    try (ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(CLIENTS))) {
      ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
      List<Future<Integer>> results = new ArrayList<>();
      for (int c = 0; c < CLIENTS; c++) {
        int client = c;
        results.add(pool.submit(() -> runClient(served, client, new Random(seed * 31 + client), model)));
      }
      int acknowledged = 0;
      for (Future<Integer> r : results) {
        try {
          acknowledged += r.get(5, TimeUnit.MINUTES);
        } catch (Exception e) {
          throw new AssertionError("seed " + seed + ": " + e.getCause(), e);
        }
      }
      pool.shutdown();
      assertTrue(acknowledged > CLIENTS * BURSTS, "seed " + seed + ": only " + acknowledged + " writes");
      assertTrue(served.log.isEmpty(), "seed " + seed + ": server logged " + served.log);
    }
    Path image = dir.resolve("served.qcow2");
    QemuTools.checkClean(image);
    assertTrue(Arrays.equals(model, QemuTools.readRaw(image)), "seed " + seed + ": image differs from the model");
  }

  /** One client's run; returns the writes acknowledged. The model's blocks of this client are its own. */
  private static int runClient(ServedImage served, int client, Random random, byte[] model) throws Exception {
    int acknowledged = 0;
    try (NbdTestClient nbd = served.connect()) {
      assertEquals(SIZE, nbd.size);
      assertTrue((nbd.transmissionFlags & Nbd.TF_CAN_MULTI_CONN) != 0);
      for (int burst = 0; burst < BURSTS; burst++) {
        // Distinct blocks within a burst: requests in flight together may complete in any order.
        int[] blocks = random.ints(0, BLOCKS / CLIENTS).distinct().limit(IN_FLIGHT)
            .map(i -> i * CLIENTS + client).toArray();
        List<CompletableFuture<NbdTestClient.Reply>> replies = new ArrayList<>();
        List<Runnable> onSuccess = new ArrayList<>();
        for (int block : blocks) {
          int op = random.nextInt(10);
          int start = block * BLOCK;
          if (op < 5) {
            int from = random.nextInt(BLOCK);
            int length = 1 + random.nextInt(BLOCK - from);
            byte[] data = new byte[length];
            random.nextBytes(data);
            boolean fua = random.nextInt(8) == 0;
            replies.add(nbd.send(Nbd.CMD_WRITE, fua ? Nbd.CMD_FLAG_FUA : 0, start + from, length, data));
            onSuccess.add(() -> System.arraycopy(data, 0, model, start + from, length));
          } else if (op < 6) {
            replies.add(nbd.send(Nbd.CMD_WRITE_ZEROES, 0, start, BLOCK, null));
            onSuccess.add(() -> Arrays.fill(model, start, start + BLOCK, (byte) 0));
          } else if (op < 7) {
            replies.add(nbd.send(Nbd.CMD_FLUSH, 0, 0, 0, null));
            onSuccess.add(() -> { });
          } else {
            byte[] expected = Arrays.copyOfRange(model, start, start + BLOCK);
            CompletableFuture<NbdTestClient.Reply> read = nbd.read(start, BLOCK);
            replies.add(read);
            onSuccess.add(() -> assertArrayEquals(expected, read.join().data(),
                "client " + client + " block " + block));
          }
        }
        for (int i = 0; i < replies.size(); i++) {
          NbdTestClient.Reply reply = replies.get(i).get(1, TimeUnit.MINUTES);
          assertEquals(0, reply.error(), "client " + client + " request " + i + " of burst " + burst);
          onSuccess.get(i).run();
          acknowledged++;
        }
      }
      // Every block this client owns reads back as the model says, through the export.
      for (int i = 0; i < BLOCKS / CLIENTS; i += 64) {
        int start = (i * CLIENTS + client) * BLOCK;
        assertArrayEquals(Arrays.copyOfRange(model, start, start + BLOCK),
            nbd.read(start, BLOCK).get(1, TimeUnit.MINUTES).data());
      }
    }
    return acknowledged;
  }
}
