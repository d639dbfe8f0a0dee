package io.qcow2.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A minimal NBD client for tests: fixed newstyle handshake with NBD_OPT_GO, then requests sent from
 * any thread with replies matched by handle on a reader thread, so many requests are in flight.
 */
final class NbdTestClient implements AutoCloseable {
  /** A simple reply: the NBD error value and, for a successful READ, the data. */
  record Reply(int error, byte[] data) {}

  private final SocketChannel channel;
  private final Object writeLock = new Object();
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
  private final AtomicLong handles = new AtomicLong(1);
  private final Thread reader;
  final long size;
  final int transmissionFlags;

  private record Pending(CompletableFuture<Reply> future, int readLength) {}

  private NbdTestClient(SocketChannel channel, long size, int flags) {
    this.channel = channel;
    this.size = size;
    this.transmissionFlags = flags;
    this.reader = new Thread(this::readReplies, "nbd-test-client-reader");
    reader.setDaemon(true);
    reader.start();
  }

  static SocketChannel open(SocketAddress address) throws IOException {
    SocketChannel channel = address instanceof UnixDomainSocketAddress
        ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
    channel.connect(address);
    return channel;
  }

  /** Connects and negotiates export {@code name} with NBD_OPT_GO. */
  static NbdTestClient connect(SocketAddress address, String name) throws IOException {
    SocketChannel channel = open(address);
    ByteBuffer hello = read(channel, 18);
    if (hello.getLong() != Nbd.NBDMAGIC || hello.getLong() != Nbd.IHAVEOPT) {
      throw new IOException("bad server greeting");
    }
    write(channel, ByteBuffer.allocate(4).putInt(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES).flip());
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    write(channel, ByteBuffer.allocate(16 + 4 + n.length + 2).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_GO)
        .putInt(4 + n.length + 2).putInt(n.length).put(n).putShort((short) 0).flip());
    long size = -1;
    int flags = 0;
    while (true) {
      ByteBuffer head = read(channel, 20);
      head.getLong();
      head.getInt();
      int type = head.getInt();
      int length = head.getInt();
      ByteBuffer data = read(channel, length);
      if (type == Nbd.REP_ACK) {
        break;
      }
      if (type < 0) {
        channel.close();
        throw new IOException("NBD_OPT_GO refused: reply type " + Integer.toHexString(type));
      }
      if (type == Nbd.REP_INFO && data.getShort() == Nbd.INFO_EXPORT) {
        size = data.getLong();
        flags = Short.toUnsignedInt(data.getShort());
      }
    }
    return new NbdTestClient(channel, size, flags);
  }

  CompletableFuture<Reply> read(long offset, int length) throws IOException {
    return send(Nbd.CMD_READ, 0, offset, length, null);
  }

  CompletableFuture<Reply> write(long offset, byte[] data) throws IOException {
    return send(Nbd.CMD_WRITE, 0, offset, data.length, data);
  }

  CompletableFuture<Reply> send(int type, int flags, long offset, long length, byte[] payload)
      throws IOException {
    long handle = handles.getAndIncrement();
    CompletableFuture<Reply> future = new CompletableFuture<>();
    int readLength = type == Nbd.CMD_READ ? (int) length : 0;
    pending.put(handle, new Pending(future, readLength));
    ByteBuffer head = ByteBuffer.allocate(28).putInt(Nbd.REQUEST_MAGIC).putShort((short) flags)
        .putShort((short) type).putLong(handle).putLong(offset).putInt((int) length).flip();
    synchronized (writeLock) {
      write(channel, head);
      if (payload != null) {
        write(channel, ByteBuffer.wrap(payload));
      }
    }
    return future;
  }

  private void readReplies() {
    try {
      while (true) {
        ByteBuffer head = read(channel, 16);
        if (head.getInt() != Nbd.SIMPLE_REPLY_MAGIC) {
          throw new IOException("bad reply magic");
        }
        int error = head.getInt();
        long handle = head.getLong();
        Pending p = pending.remove(handle);
        if (p == null) {
          throw new IOException("reply to unknown handle " + handle);
        }
        byte[] data = null;
        if (error == 0 && p.readLength() > 0) {
          data = read(channel, p.readLength()).array();
        }
        p.future().complete(new Reply(error, data));
      }
    } catch (IOException e) {
      pending.values().forEach(p -> p.future().completeExceptionally(e));
    }
  }

  /** Sends DISC and closes. */
  @Override
  public void close() throws IOException {
    try {
      send(Nbd.CMD_DISC, 0, 0, 0, null);
    } catch (IOException e) {
      // already gone
    }
    channel.shutdownOutput();
    try {
      reader.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    channel.close();
  }

  static ByteBuffer read(SocketChannel channel, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    while (b.hasRemaining()) {
      if (channel.read(b) < 0) {
        throw new EOFException("server closed the connection");
      }
    }
    return b.flip();
  }

  static void write(SocketChannel channel, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }
}
