package io.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients that break the protocol get its error or are disconnected, alone: after each case a
 * well-behaved client on another connection still reads what it wrote. The module's tests run with
 * {@code -Xmx256m}, so a server that allocated from a client's length or queued replies without
 * bound would fail the flood case.
 */
class HostileClientTest {
  private static final int SIZE = 8 << 20;

  @TempDir Path dir;
  private ServedImage served;

  @BeforeEach
  void serve() throws Exception {
    served = ServedImage.create(dir, SIZE, ServedImage.settings(4));
  }

  @AfterEach
  void stillServesAndStops() throws Exception {
    try (NbdTestClient good = served.connect()) {
      byte[] data = "still serving".getBytes(StandardCharsets.US_ASCII);
      assertEquals(0, good.write(4096, data).get(1, TimeUnit.MINUTES).error());
      assertArrayEquals(data, good.read(4096, data.length).get(1, TimeUnit.MINUTES).data());
    }
    served.close();
    assertTrue(served.log.stream().noneMatch(line -> line.contains("internal error")), served.log::toString);
  }

  private SocketChannel open() throws Exception {
    return NbdTestClient.open(served.server.address());
  }

  @Test
  void unknownClientFlagsDisconnect() throws Exception {
    SocketChannel c = open();
    RawNbd.greet(c, 0x80);
    assertTrue(RawNbd.closedByServer(c, 10));
  }

  @Test
  void badOptionMagicDisconnects() throws Exception {
    SocketChannel c = open();
    RawNbd.greet(c, Nbd.FLAG_FIXED_NEWSTYLE);
    NbdTestClient.write(c, ByteBuffer.allocate(16).putLong(0x1234).putInt(Nbd.OPT_GO).putInt(0).flip());
    assertTrue(RawNbd.closedByServer(c, 10));
  }

  @Test
  void unknownAndUnsupportedOptionsAreRefusedAndNegotiationGoesOn() throws Exception {
    try (SocketChannel c = open()) {
      RawNbd.greet(c, Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES);
      for (int option : new int[] {99, 5 /* STARTTLS */, 4 /* PEEK_EXPORT */, 11 /* EXTENDED_HEADERS */}) {
        NbdTestClient.write(c, RawNbd.option(option, new byte[10]));
        RawNbd.OptionReply reply = RawNbd.optionReply(c);
        assertEquals(option, reply.option());
        assertEquals(Nbd.REP_ERR_UNSUP, reply.type());
      }
      // STRUCTURED_REPLY takes no data; SET_META_CONTEXT needs structured replies first
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_STRUCTURED_REPLY, new byte[10]));
      assertEquals(Nbd.REP_ERR_INVALID, RawNbd.optionReply(c).type());
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_SET_META_CONTEXT, new byte[10]));
      assertEquals(Nbd.REP_ERR_INVALID, RawNbd.optionReply(c).type());
      // LIST_META_CONTEXT: a query with a length beyond the option, then all contexts
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_LIST_META_CONTEXT,
          ByteBuffer.allocate(12).putInt(0).putInt(1).putInt(100).array()));
      assertEquals(Nbd.REP_ERR_INVALID, RawNbd.optionReply(c).type());
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_LIST_META_CONTEXT, ByteBuffer.allocate(8).array()));
      RawNbd.OptionReply context = RawNbd.optionReply(c);
      assertEquals(Nbd.REP_META_CONTEXT, context.type());
      assertEquals(Nbd.BASE_ALLOCATION_ID, context.data().getInt());
      assertEquals(Nbd.BASE_ALLOCATION, StandardCharsets.US_ASCII.decode(context.data()).toString());
      assertEquals(Nbd.REP_ACK, RawNbd.optionReply(c).type());
      // INFO: unknown export, a name longer than the option, trailing bytes
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_INFO, RawNbd.infoData("nope")));
      assertEquals(Nbd.REP_ERR_UNKNOWN, RawNbd.optionReply(c).type());
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_INFO,
          ByteBuffer.allocate(6).putInt(1000).putShort((short) 0).array()));
      assertEquals(Nbd.REP_ERR_INVALID, RawNbd.optionReply(c).type());
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_GO,
          ByteBuffer.allocate(8).putInt(0).putShort((short) 0).putShort((short) 1).array()));
      assertEquals(Nbd.REP_ERR_INVALID, RawNbd.optionReply(c).type());
      // LIST with data is invalid; without it names the one export
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_LIST, new byte[3]));
      assertEquals(Nbd.REP_ERR_INVALID, RawNbd.optionReply(c).type());
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_LIST, new byte[0]));
      RawNbd.OptionReply server = RawNbd.optionReply(c);
      assertEquals(Nbd.REP_SERVER, server.type());
      assertEquals(0, server.data().getInt());
      assertEquals(Nbd.REP_ACK, RawNbd.optionReply(c).type());
      // INFO for the export, then EXPORT_NAME: size and flags, no zeroes (NO_ZEROES was sent)
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_INFO, RawNbd.infoData("")));
      RawNbd.OptionReply info;
      do {
        info = RawNbd.optionReply(c);
        if (info.type() == Nbd.REP_INFO && info.data().getShort(0) == Nbd.INFO_EXPORT) {
          assertEquals(SIZE, info.data().getLong(2));
        }
      } while (info.type() != Nbd.REP_ACK);
      NbdTestClient.write(c, RawNbd.option(Nbd.OPT_EXPORT_NAME, new byte[0]));
      ByteBuffer export = NbdTestClient.read(c, 10);
      assertEquals(SIZE, export.getLong());
      NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_FLUSH, 7, 0, 0));
      assertEquals(0, RawNbd.simpleReplyError(c, 7));
    }
  }

  @Test
  void exportNameOfAnUnknownExportDisconnectsAndAbortIsAcknowledged() throws Exception {
    SocketChannel c = open();
    RawNbd.greet(c, Nbd.FLAG_FIXED_NEWSTYLE);
    NbdTestClient.write(c, RawNbd.option(Nbd.OPT_EXPORT_NAME, "other".getBytes(StandardCharsets.UTF_8)));
    assertTrue(RawNbd.closedByServer(c, 10));

    SocketChannel a = open();
    RawNbd.greet(a, Nbd.FLAG_FIXED_NEWSTYLE);
    NbdTestClient.write(a, RawNbd.option(Nbd.OPT_ABORT, new byte[0]));
    assertEquals(Nbd.REP_ACK, RawNbd.optionReply(a).type());
    assertTrue(RawNbd.closedByServer(a, 10));
  }

  @Test
  void hugeDeclaredOptionLengthsAllocateNothing() throws Exception {
    // 4 GiB - 1 of an unknown option's data, and of INFO and EXPORT_NAME: the server reads (unknown),
    // refuses (INFO) or disconnects (EXPORT_NAME) without allocating; the client hangs up.
    for (int option : new int[] {99, Nbd.OPT_INFO, Nbd.OPT_EXPORT_NAME}) {
      SocketChannel c = open();
      RawNbd.greet(c, Nbd.FLAG_FIXED_NEWSTYLE);
      NbdTestClient.write(c, RawNbd.option(option, -1, new byte[1000]));
      c.shutdownOutput();
      assertTrue(RawNbd.closedByServer(c, 10), "option " + option);
    }
  }

  @Test
  void badRequestsGetErrorsAndTheConnectionGoesOn() throws Exception {
    try (SocketChannel c = open()) {
      RawNbd.go(c);
      NbdTestClient.write(c, RawNbd.request(0, 99, 1, 0, 0));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 1));
      NbdTestClient.write(c, RawNbd.request(0x40, Nbd.CMD_READ, 2, 0, 512));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 2));
      NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_READ, 3, SIZE - 511, 512));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 3));
      NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_READ, 4, 0, (32 << 20) + 1));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 4));
      NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_READ, 5, -4096, 512));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 5));
      NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_TRIM, 6, SIZE, 1));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 6));
      NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_WRITE_ZEROES, 7, Long.MAX_VALUE, -1));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 7));
      // A WRITE beyond the export: its payload is read and dropped, the next request is parsed.
      NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_WRITE, 8, SIZE - 100, 200));
      NbdTestClient.write(c, ByteBuffer.wrap(new byte[200]));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 8));
      NbdTestClient.write(c, RawNbd.request(Nbd.CMD_FLAG_NO_HOLE, Nbd.CMD_WRITE, 9, 0, 3));
      NbdTestClient.write(c, ByteBuffer.wrap(new byte[3]));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 9));
      NbdTestClient.write(c, RawNbd.request(Nbd.CMD_FLAG_FUA, Nbd.CMD_WRITE, 10, 0, 3));
      NbdTestClient.write(c, ByteBuffer.wrap(new byte[] {1, 2, 3}));
      assertEquals(0, RawNbd.simpleReplyError(c, 10));
      // FUA is valid on every command, as in qemu-nbd
      NbdTestClient.write(c, RawNbd.request(Nbd.CMD_FLAG_FUA, Nbd.CMD_FLUSH, 11, 0, 0));
      assertEquals(0, RawNbd.simpleReplyError(c, 11));
      NbdTestClient.write(c, RawNbd.request(Nbd.CMD_FLAG_NO_HOLE, Nbd.CMD_TRIM, 12, 0, 4096));
      assertEquals(Nbd.EINVAL, RawNbd.simpleReplyError(c, 12));
    }
  }

  @Test
  void oversizedWriteAndBadRequestMagicDisconnect() throws Exception {
    SocketChannel c = open();
    RawNbd.go(c);
    NbdTestClient.write(c, RawNbd.request(0, Nbd.CMD_WRITE, 1, 0, (32 << 20) + 1));
    assertTrue(RawNbd.closedByServer(c, 10));

    SocketChannel m = open();
    RawNbd.go(m);
    NbdTestClient.write(m, ByteBuffer.allocate(28).putInt(0, 0x12345678));
    assertTrue(RawNbd.closedByServer(m, 10));
  }

  @Test
  void writesToAReadOnlyExportAreRefusedWithEperm() throws Exception {
    served.close();
    served = ServedImage.serve(dir.resolve("served.qcow2"), dir.resolve("ro.sock"),
        new NbdServer.Settings("", true, 2));
    try (NbdTestClient ro = served.connect()) {
      assertTrue((ro.transmissionFlags & Nbd.TF_READ_ONLY) != 0);
      assertEquals(Nbd.EPERM, ro.write(0, new byte[512]).get(1, TimeUnit.MINUTES).error());
      assertEquals(Nbd.EPERM, ro.send(Nbd.CMD_TRIM, 0, 0, 65536, null).get(1, TimeUnit.MINUTES).error());
      assertEquals(0, ro.read(0, 512).get(1, TimeUnit.MINUTES).error());
    }
    // the @AfterEach client writes: serve read/write again
    served.close();
    served = ServedImage.serve(dir.resolve("served.qcow2"), dir.resolve("rw.sock"), ServedImage.settings(2));
  }

  @Test
  void clientsThatHangUpMidRequestLeaveTheServerServing() throws Exception {
    SocketChannel half = open();
    RawNbd.go(half);
    NbdTestClient.write(half, ByteBuffer.wrap(Arrays.copyOf(RawNbd.request(0, Nbd.CMD_READ, 1, 0, 512).array(), 13)));
    half.close();

    SocketChannel payload = open();
    RawNbd.go(payload);
    NbdTestClient.write(payload, RawNbd.request(0, Nbd.CMD_WRITE, 1, 0, 65536));
    NbdTestClient.write(payload, ByteBuffer.wrap(new byte[1000]));
    payload.close();

    SocketChannel greeting = open();
    NbdTestClient.write(greeting, ByteBuffer.allocate(2).flip());
    greeting.close();
  }

  @Test
  void aSilentClientIsDroppedAfterTenSecondsAndFreesItsSlot() throws Exception {
    served.close();
    served = ServedImage.serve(dir.resolve("served.qcow2"), dir.resolve("one.sock"), ServedImage.settings(1));
    SocketChannel silent = open(); // takes the only slot and never answers the greeting
    long start = System.nanoTime();
    CompletableFuture<NbdTestClient> next = CompletableFuture.supplyAsync(() -> {
      try {
        return served.connect(); // waits to be accepted: --shared 1
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    try (NbdTestClient client = next.get(1, TimeUnit.MINUTES)) {
      long waited = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
      assertTrue(waited >= 9, "served after " + waited + " s, before the silent client was dropped");
      assertEquals(0, client.read(0, 512).get(1, TimeUnit.MINUTES).error());
    }
    assertTrue(RawNbd.closedByServer(silent, 10));
  }

  @Test
  void aFloodOfReadsNobodyAnswersIsBoundedAndOthersAreServed() throws Exception {
    // 4096 reads of 1 MiB (4 GiB of replies) sent without reading one reply: the flooding
    // connection stalls at its 32 MiB buffer budget; another client is served meanwhile.
    SocketChannel flood = open();
    RawNbd.go(flood);
    Thread sender = new Thread(() -> {
      try {
        for (int i = 0; i < 4096; i++) {
          NbdTestClient.write(flood, RawNbd.request(0, Nbd.CMD_READ, i, 0, 1 << 20));
        }
      } catch (Exception e) {
        // the server stops reading; the socket is closed below
      }
    });
    sender.setDaemon(true);
    sender.start();
    Thread.sleep(500);
    try (NbdTestClient other = served.connect()) {
      assertEquals(0, other.write(1 << 20, new byte[4096]).get(1, TimeUnit.MINUTES).error());
      assertEquals(0, other.read(0, 1 << 20).get(1, TimeUnit.MINUTES).error());
    }
    flood.close();
    sender.join(10_000);
  }
}
