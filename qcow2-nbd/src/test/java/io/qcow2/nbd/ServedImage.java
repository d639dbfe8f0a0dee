package io.qcow2.nbd;

import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/** A fresh image served on a Unix socket in a test directory, with the server's log kept. */
final class ServedImage implements AutoCloseable {
  static final Map<String, String> OPEN_OPTIONS = Map.of("overlap-check", "all");

  final Path image;
  final Path socket;
  final NbdServer server;
  final List<String> log = new CopyOnWriteArrayList<>();

  private ServedImage(Path image, Path socket, NbdServer.Settings settings) throws IOException {
    this.image = image;
    this.socket = socket;
    Qcow2Image opened = Qcow2Image.open(image, OPEN_OPTIONS, !settings.readOnly());
    this.server = NbdServer.start(opened, UnixDomainSocketAddress.of(socket), settings, line -> {
      log.add(line);
      System.err.println("[server] " + line);
    });
  }

  /** Creates a qcow2 image of {@code size} bytes with 64 KiB clusters in {@code dir} and serves it. */
  static ServedImage create(Path dir, long size, NbdServer.Settings settings) throws IOException {
    Path image = dir.resolve("served.qcow2");
    Qcow2Image.create(image, size, Map.of(), OPEN_OPTIONS).close();
    return serve(image, dir.resolve("nbd.sock"), settings);
  }

  static ServedImage serve(Path image, Path socket, NbdServer.Settings settings) throws IOException {
    return new ServedImage(image, socket, settings);
  }

  static NbdServer.Settings settings(int maxConnections) {
    return new NbdServer.Settings("", false, maxConnections);
  }

  /** The URI qemu's tools open: the default export on the socket. */
  String uri() {
    return "nbd+unix:///?socket=" + socket;
  }

  NbdTestClient connect() throws IOException {
    return NbdTestClient.connect(server.address(), "");
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
