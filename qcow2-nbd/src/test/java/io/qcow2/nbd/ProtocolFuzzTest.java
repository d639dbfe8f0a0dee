package io.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.format.QemuTools;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded fuzzing of the handshake and the request parser: each iteration sends a mostly well-formed
 * conversation (greeting, options, requests) with random codes, flags, lengths, offsets and flipped
 * bytes, then hangs up its sending side. The server must close that connection within 10 seconds
 * (no hang on a length it cannot get), must log no internal error, and must keep serving a
 * well-behaved client; the image must stay clean by {@code qemu-img check}. The module's tests run
 * with {@code -Xmx256m}. Seed: {@code -Dnbd.fuzz.seed=N}, iterations: {@code -Dnbd.fuzz.iterations=N};
 * a failure names the iteration's seed.
 */
class ProtocolFuzzTest {
  private static final int SIZE = 4 << 20;
  private static final int[] OPTIONS = {
    Nbd.OPT_EXPORT_NAME, Nbd.OPT_ABORT, Nbd.OPT_LIST, 4, 5, Nbd.OPT_INFO, Nbd.OPT_GO, 8, 9, 10, 11, 1000
  };

  @TempDir Path dir;

  @Test
  void randomConversationsNeverHangCrashOrStopTheServer() throws Exception {
    QemuTools.assumeAvailable();
    long base = Long.getLong("nbd.fuzz.seed", 1130L);
    int iterations = Integer.getInteger("nbd.fuzz.iterations", 300);
    int reachedTransmission = 0;
    try (ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(2))) {
      for (int i = 0; i < iterations; i++) {
        long seed = base + i;
        byte[] conversation = conversation(new Random(seed));
        SocketChannel c = NbdTestClient.open(served.server.address());
        Thread sender = new Thread(() -> {
          try {
            NbdTestClient.write(c, ByteBuffer.wrap(conversation));
            c.shutdownOutput();
          } catch (Exception e) {
            // the server may disconnect before reading it all
          }
        });
        sender.start();
        long replies = simpleRepliesUntilClosed(c, 10);
        if (replies < 0) {
          fail("seed " + seed + ": the server did not close the connection within 10 s");
        }
        if (replies > 0) {
          reachedTransmission++;
        }
        sender.join(10_000);
        assertTrue(served.log.stream().noneMatch(line -> line.contains("internal error")),
            () -> "seed " + seed + ": " + served.log);
      }
      System.out.println("ProtocolFuzzTest: " + reachedTransmission + " of " + iterations
          + " conversations got a reply to a request, seed " + base);
      // Not vacuous: a good share of the conversations get past the handshake.
      assertTrue(reachedTransmission > iterations / 10, "only " + reachedTransmission + " reached requests");
      try (NbdTestClient good = served.connect()) {
        byte[] data = "after the fuzz".getBytes(StandardCharsets.US_ASCII);
        assertEquals(0, good.write(SIZE - data.length, data).get(1, TimeUnit.MINUTES).error());
        assertArrayEquals(data, good.read(SIZE - data.length, data.length).get(1, TimeUnit.MINUTES).data());
      }
    }
    QemuTools.checkClean(dir.resolve("served.qcow2"));
  }

  /**
   * Reads until the server closes the connection, counting simple reply magics on the way (a lower
   * bound on replies to requests; data may contain the magic too); -1 if it is still open after
   * {@code seconds}.
   */
  private static long simpleRepliesUntilClosed(SocketChannel channel, int seconds) throws Exception {
    java.util.concurrent.CompletableFuture<Long> count = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      ByteBuffer buffer = ByteBuffer.allocate(1 << 16);
      int last = 0;
      long found = 0;
      try {
        while (channel.read(buffer.clear()) >= 0) {
          buffer.flip();
          while (buffer.hasRemaining()) {
            last = (last << 8) | (buffer.get() & 0xff);
            if (last == Nbd.SIMPLE_REPLY_MAGIC) {
              found++;
            }
          }
        }
      } catch (java.io.IOException e) {
        // reset by the server
      }
      return found;
    });
    try {
      return count.get(seconds, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      return -1;
    } finally {
      channel.close();
    }
  }

  /** A conversation: greeting flags, options, and (if the options could end in GO) requests. */
  private static byte[] conversation(Random r) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int flags = r.nextInt(10) == 0 ? r.nextInt() : r.nextInt(4);
    put(out, ByteBuffer.allocate(4).putInt(flags));
    int options = r.nextInt(4);
    for (int i = 0; i < options; i++) {
      put(out, option(r, OPTIONS[r.nextInt(OPTIONS.length)]));
    }
    put(out, option(r, r.nextBoolean() ? Nbd.OPT_GO : Nbd.OPT_EXPORT_NAME));
    int requests = r.nextInt(20);
    for (int i = 0; i < requests; i++) {
      int type = r.nextInt(12) == 0 ? r.nextInt(65536) : r.nextInt(9);
      int cmdFlags = r.nextInt(4) == 0 ? r.nextInt(65536) : r.nextInt(4);
      long offset = pick(r, new long[] {0, r.nextInt(SIZE), SIZE - 1, SIZE, r.nextLong()});
      long length = pick(r, new long[] {0, 1 + r.nextInt(65536), 32 << 20, (32 << 20) + 1,
          Integer.toUnsignedLong(r.nextInt())});
      put(out, ByteBuffer.allocate(28).putInt(r.nextInt(30) == 0 ? r.nextInt() : Nbd.REQUEST_MAGIC)
          .putShort((short) cmdFlags).putShort((short) type).putLong(i).putLong(offset).putInt((int) length));
      if (type == Nbd.CMD_WRITE) {
        byte[] payload = new byte[(int) Math.min(length, r.nextBoolean() ? 70_000 : r.nextInt(70_000))];
        r.nextBytes(payload);
        out.writeBytes(payload);
      }
    }
    byte[] bytes = out.toByteArray();
    int flips = r.nextInt(3) == 0 ? 1 + r.nextInt(4) : 0;
    for (int i = 0; i < flips; i++) {
      bytes[r.nextInt(bytes.length)] ^= (byte) (1 << r.nextInt(8));
    }
    return bytes;
  }

  private static ByteBuffer option(Random r, int option) {
    byte[] data;
    switch (option) {
      case Nbd.OPT_GO:
      case Nbd.OPT_INFO: {
        String name = r.nextInt(4) == 0 ? "x" + r.nextInt(10) : "";
        int infos = r.nextInt(4);
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos)
            .putInt(r.nextInt(10) == 0 ? r.nextInt() : n.length).put(n).putShort((short) infos);
        for (int i = 0; i < infos; i++) {
          b.putShort((short) r.nextInt(5));
        }
        data = b.array();
        break;
      }
      case Nbd.OPT_EXPORT_NAME:
        data = r.nextInt(5) == 0 ? "x".getBytes(StandardCharsets.UTF_8) : new byte[0];
        break;
      default:
        data = new byte[r.nextInt(3) == 0 ? r.nextInt(300) : 0];
        r.nextBytes(data);
    }
    int declared = r.nextInt(10) == 0 ? r.nextInt() : data.length;
    int magicFlip = r.nextInt(40) == 0 ? 1 : 0;
    return ByteBuffer.allocate(16 + data.length).putLong(Nbd.IHAVEOPT ^ magicFlip).putInt(option)
        .putInt(declared).put(data);
  }

  private static long pick(Random r, long[] choices) {
    return choices[r.nextInt(choices.length)];
  }

  private static void put(ByteArrayOutputStream out, ByteBuffer b) {
    out.writeBytes(b.array());
  }
}
