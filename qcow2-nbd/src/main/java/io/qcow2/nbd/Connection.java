package io.qcow2.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One client: the fixed newstyle handshake, then requests until the client sends DISC, hangs up,
 * breaks the protocol or the server stops. The thread that runs {@link #run} reads and parses every
 * request; engine work and the reply run on the connection's own workers, so several requests are
 * in flight at once (and run in the thread-safe engine in parallel), and replies are written whole
 * under one lock per connection.
 */
final class Connection implements Runnable {
  /** Worker threads per connection: requests in flight beyond these wait in the queue. */
  private static final int WORKERS = 4;
  /** Requests parsed but not yet answered: the parser stops reading at this count. */
  private static final int MAX_QUEUED = 64;
  /** Bytes of READ and WRITE buffers a connection may hold at once (one maximum request). */
  private static final int BUFFER_BUDGET = Nbd.MAX_PAYLOAD;
  /** Longest INFO or GO option accepted: a name, and up to 1024 information requests. */
  private static final int MAX_INFO_OPTION = 4 + Nbd.MAX_STRING + 2 + 2 * 1024;
  /** Longest LIST/SET_META_CONTEXT option accepted: a name and queries, 64 KiB in all. */
  private static final int MAX_META_OPTION = 64 << 10;
  /** Most extents in one BLOCK_STATUS reply (8 bytes each). */
  private static final int MAX_EXTENTS = 1024;

  private final ByteChannel channel;
  private final Export export;
  private final Consumer<String> log;
  private final String name;
  private final Object writeLock = new Object();
  private final Semaphore queued = new Semaphore(MAX_QUEUED);
  private final Semaphore bufferBytes = new Semaphore(BUFFER_BUDGET);
  private final ByteBuffer header = ByteBuffer.allocate(Nbd.REQUEST_HEADER);
  private final ByteBuffer scratch = ByteBuffer.allocate(4096);
  private ExecutorService workers;
  private volatile boolean inTransmission;
  /** Negotiated in the handshake (reader thread), read by workers after the handshake. */
  private volatile boolean structured;
  private volatile boolean baseAllocation;
  private volatile boolean stopping;

  /** What a connection serves: one export of one image. */
  record Export(String name, ExportedImage image, boolean readOnly) {
    int transmissionFlags() {
      int flags = Nbd.TF_HAS_FLAGS | Nbd.TF_SEND_FLUSH | Nbd.TF_SEND_FUA | Nbd.TF_CAN_MULTI_CONN;
      return readOnly ? flags | Nbd.TF_READ_ONLY : flags | Nbd.TF_SEND_TRIM | Nbd.TF_SEND_WRITE_ZEROES;
    }
  }

  Connection(ByteChannel channel, Export export, Consumer<String> log, String name) {
    this.channel = channel;
    this.export = export;
    this.log = log;
    this.name = name;
  }

  /** Whether the handshake is over (the server drops clients that take too long to get there). */
  boolean inTransmission() {
    return inTransmission;
  }

  /**
   * Stops reading requests: the requests already read are answered, then the connection closes.
   * The client sees its connection closed, as after {@code qemu-nbd} stops.
   */
  void stop() {
    stopping = true;
    try {
      if (channel instanceof SocketChannel socket) {
        socket.shutdownInput();
      } else {
        channel.close();
      }
    } catch (IOException e) {
      abort();
    }
  }

  /** Closes the connection at once; requests in flight get no reply. */
  void abort() {
    try {
      channel.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void run() {
    try {
      if (handshake()) {
        inTransmission = true;
        workers = new ThreadPoolExecutor(WORKERS, WORKERS, 0, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> {
              Thread t = new Thread(r, name + "-worker");
              t.setDaemon(true);
              return t;
            });
        transmission();
      }
    } catch (ProtocolException e) {
      log.accept(name + ": protocol error, disconnecting: " + e.getMessage());
    } catch (EOFException | ClosedChannelException e) {
      if (!stopping && inTransmission) {
        log.accept(name + ": client hung up mid-request");
      }
    } catch (IOException e) {
      if (!stopping) {
        log.accept(name + ": connection failed: " + e.getMessage());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      log.accept(name + ": internal error, disconnecting: " + e);
    } finally {
      finish();
    }
  }

  /**
   * Lets every request already read finish and answer, then closes. Workers are never interrupted:
   * an interrupt during the image's file I/O would close the image's FileChannel for every
   * connection. A worker stuck on a reply to a client that stopped reading is freed by closing
   * the socket instead (on interrupt of this thread, i.e. the server stopping).
   */
  private void finish() {
    if (workers != null) {
      workers.shutdown();
      boolean interrupted = false;
      while (true) {
        try {
          if (workers.awaitTermination(1, TimeUnit.SECONDS)) {
            break;
          }
        } catch (InterruptedException e) {
          interrupted = true;
          abort();
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    abort();
  }

  // ---------------------------------------------------------------------------------------------
  // Handshake (proto.md "Fixed newstyle negotiation")

  /** Negotiates; true to go on to transmission, false if the client aborted. */
  private boolean handshake() throws IOException {
    ByteBuffer hello = ByteBuffer.allocate(18);
    hello.putLong(Nbd.NBDMAGIC).putLong(Nbd.IHAVEOPT)
        .putShort((short) (Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES)).flip();
    send(hello, null);
    int clientFlags = readInt();
    if ((clientFlags & ~Nbd.CLIENT_FLAGS_KNOWN) != 0) {
      throw new ProtocolException(String.format("unknown client flags 0x%x", clientFlags));
    }
    boolean noZeroes = (clientFlags & Nbd.FLAG_NO_ZEROES) != 0;
    while (true) {
      long magic = readLong();
      if (magic != Nbd.IHAVEOPT) {
        throw new ProtocolException(String.format("bad option magic 0x%x", magic));
      }
      int option = readInt();
      long length = Integer.toUnsignedLong(readInt());
      switch (option) {
        case Nbd.OPT_EXPORT_NAME:
          exportName(length, noZeroes);
          return true;
        case Nbd.OPT_ABORT:
          skip(length);
          optionReply(option, Nbd.REP_ACK, null);
          return false;
        case Nbd.OPT_LIST:
          list(length);
          break;
        case Nbd.OPT_INFO:
        case Nbd.OPT_GO:
          if (info(option, length)) {
            return true;
          }
          break;
        case Nbd.OPT_STRUCTURED_REPLY:
          skip(length);
          if (length != 0 || structured) {
            optionReply(option, Nbd.REP_ERR_INVALID, null);
          } else {
            structured = true;
            optionReply(option, Nbd.REP_ACK, null);
          }
          break;
        case Nbd.OPT_LIST_META_CONTEXT:
        case Nbd.OPT_SET_META_CONTEXT:
          metaContext(option, length);
          break;
        default:
          skip(length);
          optionReply(option, Nbd.REP_ERR_UNSUP, null);
      }
    }
  }

  private void exportName(long length, boolean noZeroes) throws IOException {
    if (length > Nbd.MAX_STRING) {
      throw new ProtocolException("export name of " + length + " bytes");
    }
    String requested = readName((int) length);
    if (!export.name().equals(requested)) {
      // NBD_OPT_EXPORT_NAME has no error reply: the spec says to close.
      throw new ProtocolException("unknown export '" + requested + "'");
    }
    ByteBuffer reply = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
    reply.putLong(export.image().size()).putShort((short) export.transmissionFlags());
    reply.position(reply.limit()).flip();
    send(reply, null);
  }

  private void list(long length) throws IOException {
    if (length != 0) {
      skip(length);
      optionReply(Nbd.OPT_LIST, Nbd.REP_ERR_INVALID, null);
      return;
    }
    byte[] nameBytes = export.name().getBytes(StandardCharsets.UTF_8);
    ByteBuffer server = ByteBuffer.allocate(4 + nameBytes.length).putInt(nameBytes.length).put(nameBytes);
    optionReply(Nbd.OPT_LIST, Nbd.REP_SERVER, server.flip());
    optionReply(Nbd.OPT_LIST, Nbd.REP_ACK, null);
  }

  /** NBD_OPT_INFO and NBD_OPT_GO; true when GO succeeded. */
  private boolean info(int option, long length) throws IOException {
    if (length < 6 || length > MAX_INFO_OPTION) {
      skip(length);
      optionReply(option, Nbd.REP_ERR_INVALID, null);
      return false;
    }
    ByteBuffer data = ByteBuffer.allocate((int) length);
    readFully(data);
    data.flip();
    long nameLength = Integer.toUnsignedLong(data.getInt());
    if (nameLength > length - 6) {
      optionReply(option, Nbd.REP_ERR_INVALID, null);
      return false;
    }
    byte[] nameBytes = new byte[(int) nameLength];
    data.get(nameBytes);
    int requests = Short.toUnsignedInt(data.getShort());
    if (data.remaining() != 2 * requests) {
      optionReply(option, Nbd.REP_ERR_INVALID, null);
      return false;
    }
    String requested;
    try {
      requested = decode(nameBytes);
    } catch (CharacterCodingException e) {
      optionReply(option, Nbd.REP_ERR_INVALID, null);
      return false;
    }
    if (!export.name().equals(requested)) {
      optionReply(option, Nbd.REP_ERR_UNKNOWN, null);
      return false;
    }
    boolean wantsName = false;
    for (int i = 0; i < requests; i++) {
      wantsName |= data.getShort() == Nbd.INFO_NAME;
    }
    if (wantsName) {
      byte[] ours = export.name().getBytes(StandardCharsets.UTF_8);
      optionReply(option, Nbd.REP_INFO,
          ByteBuffer.allocate(2 + ours.length).putShort((short) Nbd.INFO_NAME).put(ours).flip());
    }
    // Sent unasked, as qemu-nbd does: no alignment required, 4 KiB preferred, 32 MiB at most.
    optionReply(option, Nbd.REP_INFO, ByteBuffer.allocate(14).putShort((short) Nbd.INFO_BLOCK_SIZE)
        .putInt(1).putInt(4096).putInt(Nbd.MAX_PAYLOAD).flip());
    optionReply(option, Nbd.REP_INFO, ByteBuffer.allocate(12).putShort((short) Nbd.INFO_EXPORT)
        .putLong(export.image().size()).putShort((short) export.transmissionFlags()).flip());
    optionReply(option, Nbd.REP_ACK, null);
    return option == Nbd.OPT_GO;
  }

  /**
   * NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: the one context served is
   * base:allocation (SET needs structured replies first, as the spec says).
   */
  private void metaContext(int option, long length) throws IOException {
    if (length < 8 || length > MAX_META_OPTION || (option == Nbd.OPT_SET_META_CONTEXT && !structured)) {
      skip(length);
      optionReply(option, Nbd.REP_ERR_INVALID, null);
      return;
    }
    ByteBuffer data = ByteBuffer.allocate((int) length);
    readFully(data);
    data.flip();
    String name = string(data);
    if (name == null || data.remaining() < 4) {
      optionReply(option, Nbd.REP_ERR_INVALID, null);
      return;
    }
    long queries = Integer.toUnsignedLong(data.getInt());
    boolean base = queries == 0 && option == Nbd.OPT_LIST_META_CONTEXT;
    for (long i = 0; i < queries; i++) {
      String query = string(data);
      if (query == null) {
        optionReply(option, Nbd.REP_ERR_INVALID, null);
        return;
      }
      base |= query.equals(Nbd.BASE_ALLOCATION)
          || (option == Nbd.OPT_LIST_META_CONTEXT && query.equals("base:"));
    }
    if (data.hasRemaining()) {
      optionReply(option, Nbd.REP_ERR_INVALID, null);
      return;
    }
    if (!export.name().equals(name)) {
      optionReply(option, Nbd.REP_ERR_UNKNOWN, null);
      return;
    }
    if (option == Nbd.OPT_SET_META_CONTEXT) {
      baseAllocation = base;
    }
    if (base) {
      byte[] context = Nbd.BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
      optionReply(option, Nbd.REP_META_CONTEXT, ByteBuffer.allocate(4 + context.length)
          .putInt(Nbd.BASE_ALLOCATION_ID).put(context).flip());
    }
    optionReply(option, Nbd.REP_ACK, null);
  }

  /** A 32-bit length and that many bytes of UTF-8 from {@code data}; null if it does not fit. */
  private static String string(ByteBuffer data) {
    if (data.remaining() < 4) {
      return null;
    }
    long length = Integer.toUnsignedLong(data.getInt());
    if (length > data.remaining()) {
      return null;
    }
    byte[] bytes = new byte[(int) length];
    data.get(bytes);
    try {
      return decode(bytes);
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  private void optionReply(int option, int type, ByteBuffer data) throws IOException {
    int length = data == null ? 0 : data.remaining();
    ByteBuffer head = ByteBuffer.allocate(20).putLong(Nbd.REPLY_MAGIC).putInt(option).putInt(type)
        .putInt(length).flip();
    send(head, data);
  }

  private String readName(int length) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(length);
    readFully(bytes);
    try {
      return decode(bytes.array());
    } catch (CharacterCodingException e) {
      throw new ProtocolException("export name is not UTF-8");
    }
  }

  private static String decode(byte[] bytes) throws CharacterCodingException {
    return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
  }

  // ---------------------------------------------------------------------------------------------
  // Transmission (proto.md "Transmission phase")

  private void transmission() throws IOException, InterruptedException {
    while (true) {
      header.clear();
      if (!readFullyOrEnd(header)) {
        return; // the client hung up between requests, or the server is stopping
      }
      header.flip();
      int magic = header.getInt();
      if (magic != Nbd.REQUEST_MAGIC) {
        throw new ProtocolException(String.format("bad request magic 0x%x", magic));
      }
      int flags = Short.toUnsignedInt(header.getShort());
      int type = Short.toUnsignedInt(header.getShort());
      long handle = header.getLong();
      long offset = header.getLong();
      long length = Integer.toUnsignedLong(header.getInt());
      if (type == Nbd.CMD_DISC) {
        return;
      }
      dispatch(flags, type, handle, offset, length);
    }
  }

  private void dispatch(int flags, int type, long handle, long offset, long length)
      throws IOException, InterruptedException {
    // FUA is valid on every command, as in qemu-nbd (it means nothing to READ and FLUSH).
    boolean fua = (flags & Nbd.CMD_FLAG_FUA) != 0;
    int otherFlags = flags & ~Nbd.CMD_FLAG_FUA;
    switch (type) {
      case Nbd.CMD_READ: {
        // DF (do not fragment) is valid with structured replies, and always met: one data chunk.
        int allowed = structured ? Nbd.CMD_FLAG_DF : 0;
        int error = (otherFlags & ~allowed) != 0 || length > Nbd.MAX_PAYLOAD ? Nbd.EINVAL : range(offset, length);
        if (error != 0) {
          readReply(handle, error, offset, null);
          return;
        }
        int len = (int) length;
        submit(len, () -> {
          byte[] buf = new byte[len];
          int e = export.image().read(offset, buf, len);
          readReply(handle, e, offset, e == 0 ? ByteBuffer.wrap(buf) : null);
        });
        return;
      }
      case Nbd.CMD_BLOCK_STATUS: {
        int error = (otherFlags & ~Nbd.CMD_FLAG_REQ_ONE) != 0 || !baseAllocation || length == 0
            ? Nbd.EINVAL : range(offset, length);
        if (error != 0) {
          simpleReply(handle, error, null);
          return;
        }
        int maxExtents = (otherFlags & Nbd.CMD_FLAG_REQ_ONE) != 0 ? 1 : MAX_EXTENTS;
        submit(0, () -> {
          int[] extents = export.image().allocation(offset, length, maxExtents);
          if (extents == null) {
            simpleReply(handle, Nbd.EIO, null);
            return;
          }
          ByteBuffer payload = ByteBuffer.allocate(4 + 4 * extents.length).putInt(Nbd.BASE_ALLOCATION_ID);
          for (int extent : extents) {
            payload.putInt(extent);
          }
          structuredChunk(handle, Nbd.REPLY_TYPE_BLOCK_STATUS, payload.flip());
        });
        return;
      }
      case Nbd.CMD_WRITE: {
        if (length > Nbd.MAX_PAYLOAD) {
          // The payload follows the header and cannot be answered without reading it: QEMU
          // disconnects too.
          throw new ProtocolException("WRITE of " + length + " bytes, more than " + Nbd.MAX_PAYLOAD);
        }
        int error = otherFlags != 0 ? Nbd.EINVAL : export.readOnly() ? Nbd.EPERM : range(offset, length);
        if (error != 0) {
          skip(length);
          simpleReply(handle, error, null);
          return;
        }
        int len = (int) length;
        acquire(len);
        byte[] buf;
        try {
          buf = new byte[len];
          readFully(ByteBuffer.wrap(buf));
        } catch (IOException | RuntimeException e) {
          release(len);
          throw e;
        }
        submitAcquired(len, () -> simpleReply(handle, export.image().write(offset, buf, len, fua), null));
        return;
      }
      case Nbd.CMD_FLUSH: {
        if (otherFlags != 0) {
          simpleReply(handle, Nbd.EINVAL, null);
          return;
        }
        submit(0, () -> simpleReply(handle, export.image().flush(), null));
        return;
      }
      case Nbd.CMD_TRIM:
      case Nbd.CMD_WRITE_ZEROES: {
        int allowed = type == Nbd.CMD_TRIM ? 0 : Nbd.CMD_FLAG_NO_HOLE;
        int error = (otherFlags & ~allowed) != 0 ? Nbd.EINVAL
            : export.readOnly() ? Nbd.EPERM : range(offset, length);
        if (error != 0) {
          simpleReply(handle, error, null);
          return;
        }
        boolean noHole = (flags & Nbd.CMD_FLAG_NO_HOLE) != 0;
        submit(0, () -> simpleReply(handle, type == Nbd.CMD_TRIM
            ? export.image().discard(offset, length, fua)
            : export.image().writeZeroes(offset, length, noHole, fua), null));
        return;
      }
      default:
        // Unknown commands carry no payload we could know of: EINVAL, as qemu-nbd.
        simpleReply(handle, Nbd.EINVAL, null);
    }
  }

  private int range(long offset, long length) {
    long size = export.image().size();
    return offset < 0 || offset > size || length > size - offset ? Nbd.EINVAL : 0;
  }

  /** A request's work: the engine call and its reply. */
  private interface Work {
    void run() throws IOException;
  }

  private void submit(int bytes, Work work) throws InterruptedException {
    acquire(bytes);
    submitAcquired(bytes, work);
  }

  private void acquire(int bytes) throws InterruptedException {
    queued.acquire();
    try {
      bufferBytes.acquire(bytes);
    } catch (InterruptedException e) {
      queued.release();
      throw e;
    }
  }

  private void release(int bytes) {
    bufferBytes.release(bytes);
    queued.release();
  }

  private void submitAcquired(int bytes, Work work) {
    workers.execute(() -> {
      try {
        work.run();
      } catch (IOException e) {
        abort(); // the reply could not be written: the client is gone
      } catch (RuntimeException e) {
        log.accept(name + ": internal error, disconnecting: " + e);
        abort(); // a request without a reply would leave the client waiting
      } finally {
        release(bytes);
      }
    });
  }

  /** A READ's reply: simple, or with structured replies one data or error chunk, the last. */
  private void readReply(long handle, int error, long offset, ByteBuffer data) throws IOException {
    if (!structured) {
      simpleReply(handle, error, data);
    } else if (error != 0) {
      structuredChunk(handle, Nbd.REPLY_TYPE_ERROR, ByteBuffer.allocate(6).putInt(error).putShort((short) 0).flip());
    } else {
      ByteBuffer head = ByteBuffer.allocate(20 + 8).putInt(Nbd.STRUCTURED_REPLY_MAGIC)
          .putShort((short) Nbd.REPLY_FLAG_DONE).putShort((short) Nbd.REPLY_TYPE_OFFSET_DATA)
          .putLong(handle).putInt(8 + data.remaining()).putLong(offset).flip();
      send(head, data);
    }
  }

  /** One structured reply chunk, flagged as the last of its reply. */
  private void structuredChunk(long handle, int type, ByteBuffer payload) throws IOException {
    ByteBuffer head = ByteBuffer.allocate(20).putInt(Nbd.STRUCTURED_REPLY_MAGIC)
        .putShort((short) Nbd.REPLY_FLAG_DONE).putShort((short) type).putLong(handle)
        .putInt(payload.remaining()).flip();
    send(head, payload);
  }

  private void simpleReply(long handle, int error, ByteBuffer data) throws IOException {
    ByteBuffer head = ByteBuffer.allocate(Nbd.SIMPLE_REPLY_HEADER)
        .putInt(Nbd.SIMPLE_REPLY_MAGIC).putInt(error).putLong(handle).flip();
    send(head, data);
  }

  // ---------------------------------------------------------------------------------------------
  // Channel I/O. Not Channels.newInputStream: its streams lock the channel for reads and writes
  // alike, and a reader blocked in read would stop every reply.

  private void send(ByteBuffer head, ByteBuffer data) throws IOException {
    synchronized (writeLock) {
      writeFully(head);
      if (data != null) {
        writeFully(data);
      }
    }
  }

  private void writeFully(ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      channel.write(buffer);
    }
  }

  private void readFully(ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      if (channel.read(buffer) < 0) {
        throw new EOFException("client closed the connection");
      }
    }
  }

  /** Reads a whole buffer; false if the stream ended before its first byte. */
  private boolean readFullyOrEnd(ByteBuffer buffer) throws IOException {
    if (channel.read(buffer) < 0) {
      return false;
    }
    readFully(buffer);
    return true;
  }

  private int readInt() throws IOException {
    ByteBuffer b = ByteBuffer.allocate(4);
    readFully(b);
    return b.getInt(0);
  }

  private long readLong() throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8);
    readFully(b);
    return b.getLong(0);
  }

  /** Reads and drops {@code length} bytes without allocating for them. */
  private void skip(long length) throws IOException {
    for (long left = length; left > 0; ) {
      scratch.clear().limit((int) Math.min(scratch.capacity(), left));
      readFully(scratch);
      left -= scratch.limit();
    }
  }
}
