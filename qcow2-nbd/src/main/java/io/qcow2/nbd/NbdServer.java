package io.qcow2.nbd;

import io.qcow2.format.Qcow2Image;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * An NBD server exporting one open {@link Qcow2Image} as a raw disk, as {@code qemu-nbd -t} does:
 * the fixed newstyle handshake ({@code NBD_OPT_GO}, {@code INFO}, {@code LIST}, {@code
 * EXPORT_NAME}, {@code ABORT}, {@code STRUCTURED_REPLY}, {@code LIST_META_CONTEXT} and {@code
 * SET_META_CONTEXT} for {@code base:allocation}), commands {@code READ}, {@code WRITE} (with {@code
 * FUA}), {@code FLUSH}, {@code TRIM}, {@code WRITE_ZEROES} (with {@code FUA} and {@code NO_HOLE}),
 * {@code BLOCK_STATUS} and {@code DISC}; simple replies, and structured replies for READ and
 * BLOCK_STATUS when the client asks for them. It listens on a Unix-domain socket or TCP and keeps serving across client
 * disconnects until {@link #close}.
 *
 * <p><b>Threads.</b> Every connection parses its requests on its own thread and runs them on its own
 * bounded pool of workers (at most 64 requests and 32 MiB of buffers per connection), so several
 * connections and several requests per connection are in flight at once and run in the engine in
 * parallel: {@code Qcow2Image} is thread-safe, reads and in-place writes of allocated clusters run
 * together, allocation, zero writes, discards and flushes alone. Replies are written whole under a
 * lock per connection. {@code NBD_FLAG_CAN_MULTI_CONN} is advertised, as the NBD protocol allows
 * when every connection shares one cache: all connections share one {@code Qcow2Image} (one set of
 * table caches, one file), and a FLUSH (or FUA) on any of them waits for every engine call in
 * flight, writes every dirty table and forces the file, so every write answered on any connection
 * before it is durable and visible on all of them when it is answered. All methods of this class
 * are thread-safe; the image passed to {@link #start} belongs to the server from then on.
 *
 * <p><b>Corruption.</b> A write the overlap check refuses fails with {@code EIO} and one log line
 * naming the metadata type and host offset; the engine then refuses every write ({@code EPERM}),
 * reads go on, and other connections keep being served.
 *
 * <p><b>Hostile clients.</b> A protocol violation with no possible reply (bad magic, unknown client
 * flags, an unknown export in {@code NBD_OPT_EXPORT_NAME}, a WRITE above 32 MiB) disconnects that
 * client only; a bad request that can be answered gets its error. No buffer is allocated from a
 * client's length before it is bounded, and a connection holds at most 32 MiB of request buffers.
 * A client still in the handshake after 10 seconds is dropped.
 */
public final class NbdServer implements Closeable {
  /*
   * Lifecycle: one acceptor thread takes a slot (at most maxConnections) before each accept, like
   * qemu-nbd --shared, and starts a thread per connection, which gives the slot back when it ends.
   * close() stops accepting, makes every connection stop reading (shutdownInput) and answer what it
   * has read, waits, drops connections still stuck after STOP_GRACE (a client that reads no replies),
   * then flushes and closes the image.
   */
  private static final long HANDSHAKE_SECONDS = 10;
  private static final long STOP_GRACE_MILLIS = 30_000;

  /**
   * What the server exports and to how many clients at once.
   *
   * @param exportName the export's name; the empty string is the default export ({@code
   *     nbd+unix:///?socket=PATH}); at most 4096 bytes of UTF-8
   * @param readOnly whether to refuse WRITE, TRIM and WRITE_ZEROES with {@code EPERM}
   * @param maxConnections clients served at once; more wait to be accepted
   */
  public record Settings(String exportName, boolean readOnly, int maxConnections) {
    public Settings {
      Objects.requireNonNull(exportName, "exportName");
      if (exportName.getBytes(StandardCharsets.UTF_8).length > Nbd.MAX_STRING) {
        throw new IllegalArgumentException("export name longer than " + Nbd.MAX_STRING + " bytes");
      }
      if (maxConnections < 1) {
        throw new IllegalArgumentException("maxConnections must be at least 1, not " + maxConnections);
      }
    }
  }

  private final ServerSocketChannel listener;
  private final SocketAddress address;
  private final ExportedImage image;
  private final Connection.Export export;
  private final Consumer<String> log;
  private final Semaphore slots;
  private final Map<Connection, Thread> connections = new ConcurrentHashMap<>();
  private final ScheduledExecutorService handshakeTimer;
  private final Thread acceptor;
  private final CountDownLatch stopped = new CountDownLatch(1);
  private volatile boolean closing;
  private int connectionCount;

  private NbdServer(ServerSocketChannel listener, Qcow2Image image, Settings settings,
      Consumer<String> log) throws IOException {
    this.listener = listener;
    this.address = listener.getLocalAddress();
    this.log = log;
    this.image = new ExportedImage(image, log);
    this.export = new Connection.Export(settings.exportName(), this.image,
        settings.readOnly() || !image.isWritable());
    this.slots = new Semaphore(settings.maxConnections());
    this.handshakeTimer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "nbd-handshake-timer");
      t.setDaemon(true);
      return t;
    });
    this.acceptor = new Thread(this::accept, "nbd-acceptor");
  }

  /**
   * Starts serving {@code image} on {@code address}: a {@link UnixDomainSocketAddress} (the socket
   * file must not exist; it is deleted on close) or an {@link InetSocketAddress} (port 0 picks a free
   * port, see {@link #address()}).
   *
   * @param log receives one line per event worth an operator's attention (a corruption event, a
   *     client disconnected for a protocol error); called from any thread
   * @throws IOException if the address cannot be bound
   */
  public static NbdServer start(Qcow2Image image, SocketAddress address, Settings settings,
      Consumer<String> log) throws IOException {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(settings, "settings");
    Objects.requireNonNull(log, "log");
    ServerSocketChannel listener;
    if (address instanceof UnixDomainSocketAddress) {
      listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    } else if (address instanceof InetSocketAddress) {
      listener = ServerSocketChannel.open();
    } else {
      throw new IllegalArgumentException("not a Unix-domain or TCP address: " + address);
    }
    try {
      listener.bind(address);
    } catch (IOException | RuntimeException e) {
      listener.close();
      throw e;
    }
    NbdServer server = new NbdServer(listener, image, settings, log);
    server.acceptor.start();
    return server;
  }

  /** The address the server listens on (with the port chosen for port 0). */
  public SocketAddress address() {
    return address;
  }

  /** The size of the export in bytes (the image's virtual size). */
  public long exportSize() {
    return image.size();
  }

  private void accept() {
    try {
      while (!closing) {
        slots.acquire();
        SocketChannel channel;
        try {
          channel = listener.accept();
        } catch (IOException e) {
          slots.release();
          if (!closing) {
            log.accept("accept failed, server stops accepting: " + e.getMessage());
          }
          return;
        }
        String name = "nbd-client-" + (++connectionCount);
        Connection connection = new Connection(channel, export, log, name);
        Thread thread = new Thread(() -> {
          try {
            connection.run();
          } finally {
            connections.remove(connection);
            slots.release();
          }
        }, name);
        thread.setDaemon(true);
        connections.put(connection, thread);
        if (closing) {
          connection.abort();
        }
        thread.start();
        handshakeTimer.schedule(() -> {
          if (!connection.inTransmission()) {
            connection.abort();
          }
        }, HANDSHAKE_SECONDS, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Stops gracefully: no new connections, every connection stops reading requests and answers those
   * it has read (writes finish), then the image is flushed and closed. Clients that read no replies
   * for 30 seconds are dropped. Idempotent; a second caller waits for the first to finish.
   *
   * @throws IOException if flushing or closing the image failed
   */
  @Override
  public void close() throws IOException {
    synchronized (this) {
      if (closing) {
        awaitStopped();
        return;
      }
      closing = true;
    }
    try {
      listener.close();
      acceptor.interrupt();
      joinQuietly(acceptor, STOP_GRACE_MILLIS);
      connections.keySet().forEach(Connection::stop);
      long deadline = System.currentTimeMillis() + STOP_GRACE_MILLIS;
      for (Thread t : connections.values()) {
        joinQuietly(t, Math.max(1, deadline - System.currentTimeMillis()));
      }
      connections.keySet().forEach(Connection::abort);
      for (Thread t : connections.values()) {
        joinQuietly(t, STOP_GRACE_MILLIS);
      }
      handshakeTimer.shutdownNow();
      image.close();
    } finally {
      if (address instanceof UnixDomainSocketAddress unix) {
        Files.deleteIfExists(unix.getPath());
      }
      stopped.countDown();
    }
  }

  /**
   * Serves until the JVM shuts down (SIGINT, SIGTERM, {@code System.exit}): a shutdown hook closes
   * the server gracefully ({@link #close}), reporting a failure to close to the log, and this method
   * returns once it has. For a command that serves until it is signalled.
   */
  public void serveUntilShutdown() {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        close();
      } catch (IOException e) {
        log.accept("closing the image failed: " + e.getMessage());
      }
    }, "nbd-stop-on-shutdown"));
    awaitStopped();
  }

  /** Waits until {@link #close} has finished (for a command that serves until it is signalled). */
  public void awaitStopped() {
    boolean interrupted = false;
    while (true) {
      try {
        stopped.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private static void joinQuietly(Thread thread, long millis) {
    try {
      thread.join(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
