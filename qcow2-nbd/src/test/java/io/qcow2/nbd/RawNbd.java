package io.qcow2.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Bytes of the NBD protocol written by hand, for tests that break it on purpose. */
final class RawNbd {
  private RawNbd() {}

  /** An option: IHAVEOPT, the option, the declared length and the data that follows. */
  static ByteBuffer option(int option, int declaredLength, byte[] data) {
    return ByteBuffer.allocate(16 + data.length).putLong(Nbd.IHAVEOPT).putInt(option)
        .putInt(declaredLength).put(data).flip();
  }

  static ByteBuffer option(int option, byte[] data) {
    return option(option, data.length, data);
  }

  /** The data of NBD_OPT_INFO / NBD_OPT_GO for export {@code name} with no information requests. */
  static byte[] infoData(String name) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(4 + n.length + 2).putInt(n.length).put(n).putShort((short) 0).array();
  }

  static ByteBuffer request(int flags, int type, long handle, long offset, int length) {
    return ByteBuffer.allocate(28).putInt(Nbd.REQUEST_MAGIC).putShort((short) flags)
        .putShort((short) type).putLong(handle).putLong(offset).putInt(length).flip();
  }

  /** Reads the server's greeting and sends the client flags. */
  static void greet(SocketChannel channel, int clientFlags) throws IOException {
    ByteBuffer hello = NbdTestClient.read(channel, 18);
    if (hello.getLong() != Nbd.NBDMAGIC || hello.getLong() != Nbd.IHAVEOPT) {
      throw new IOException("bad greeting");
    }
    NbdTestClient.write(channel, ByteBuffer.allocate(4).putInt(clientFlags).flip());
  }

  /** An option reply: its type and data. */
  record OptionReply(int option, int type, ByteBuffer data) {}

  static OptionReply optionReply(SocketChannel channel) throws IOException {
    ByteBuffer head = NbdTestClient.read(channel, 20);
    if (head.getLong() != Nbd.REPLY_MAGIC) {
      throw new IOException("bad option reply magic");
    }
    int option = head.getInt();
    int type = head.getInt();
    int length = head.getInt();
    return new OptionReply(option, type, NbdTestClient.read(channel, length));
  }

  /** Negotiates the default export with NBD_OPT_GO, skipping the information replies. */
  static void go(SocketChannel channel) throws IOException {
    greet(channel, Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES);
    NbdTestClient.write(channel, option(Nbd.OPT_GO, infoData("")));
    while (optionReply(channel).type() != Nbd.REP_ACK) {
      // information
    }
  }

  /** A simple reply's error, for a request without data in its reply. */
  static int simpleReplyError(SocketChannel channel, long handle) throws IOException {
    ByteBuffer reply = NbdTestClient.read(channel, 16);
    if (reply.getInt() != Nbd.SIMPLE_REPLY_MAGIC) {
      throw new IOException("bad reply magic");
    }
    int error = reply.getInt();
    if (reply.getLong() != handle) {
      throw new IOException("reply to another handle");
    }
    return error;
  }

  /**
   * Whether the server closes the connection within {@code seconds}, discarding what it still sends.
   */
  static boolean closedByServer(SocketChannel channel, int seconds) throws Exception {
    CompletableFuture<Boolean> eof = CompletableFuture.supplyAsync(() -> {
      ByteBuffer sink = ByteBuffer.allocate(1 << 16);
      try {
        while (channel.read(sink.clear()) >= 0) {
          // drain
        }
        return true;
      } catch (IOException e) {
        return true; // reset by the server
      }
    });
    try {
      return eof.get(seconds, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      return false;
    } finally {
      channel.close();
    }
  }
}
