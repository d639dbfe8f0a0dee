package io.qcow2.format.cli;

import io.qcow2.format.Qcow2Image;
import io.qcow2.nbd.NbdServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 serve [--socket PATH | --port N [--bind ADDR]] [--read-only] [--shared N]
 * [--export-name NAME] [open options] IMAGE}: exports the image over NBD, as {@code qemu-nbd -t -f
 * qcow2} does, until SIGINT or SIGTERM; then requests already read finish, the image is flushed and
 * closed, and the socket file is removed. The short options are qemu-nbd's. With neither {@code
 * --socket} nor {@code --port}, the socket is {@code IMAGE.sock} next to the image.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Export an image over NBD (like qemu-nbd -t) until interrupted.")
final class ServeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Parameters(index = "0", paramLabel = "IMAGE") Path image;

  @Option(names = {"-k", "--socket"}, paramLabel = "PATH",
      description = "Listen on this Unix-domain socket (default: IMAGE.sock).")
  Path socket;

  @Option(names = {"-p", "--port"}, paramLabel = "PORT",
      description = "Listen on this TCP port instead of a Unix socket (0: any free port).")
  Integer port;

  @Option(names = {"-b", "--bind"}, paramLabel = "ADDR",
      description = "Address to listen on with --port (default: 127.0.0.1).")
  String bind;

  @Option(names = {"-r", "--read-only"}, description = "Export read-only.")
  boolean readOnly;

  @Option(names = {"-e", "--shared"}, paramLabel = "N", defaultValue = "1",
      description = "Clients served at once (default: 1).")
  int shared;

  @Option(names = {"-x", "--export-name"}, paramLabel = "NAME", defaultValue = "",
      description = "Export name (default: empty, so nbd+unix:///?socket=PATH reaches it).")
  String exportName;

  @Override
  public Integer call() throws IOException {
    SocketAddress address = address();
    NbdServer.Settings settings = new NbdServer.Settings(exportName, readOnly, shared);
    PrintWriter err = spec.commandLine().getErr();
    Qcow2Image opened = Qcow2Image.open(image, imageOptions.options(), !readOnly);
    NbdServer server;
    try {
      server = NbdServer.start(opened, address, settings, line -> {
        synchronized (err) {
          err.println("qcow2 serve: " + line);
          err.flush();
        }
      });
    } catch (IOException | RuntimeException e) {
      opened.close();
      throw e;
    }
    PrintWriter out = spec.commandLine().getOut();
    out.printf("serving %s (%d bytes%s) on %s%n", image, server.exportSize(),
        settings.readOnly() ? ", read-only" : "", uri(server.address()));
    out.flush();
    server.serveUntilShutdown();
    return 0;
  }

  private SocketAddress address() throws IOException {
    if (port != null) {
      if (socket != null) {
        throw new ParameterException(spec.commandLine(), "--socket and --port exclude each other");
      }
      if (port < 0 || port > 65535) {
        throw new ParameterException(spec.commandLine(), "--port must be 0 to 65535, not " + port);
      }
      return new InetSocketAddress(InetAddress.getByName(bind == null ? "127.0.0.1" : bind), port);
    }
    if (bind != null) {
      throw new ParameterException(spec.commandLine(), "--bind needs --port");
    }
    Path path = socket != null ? socket : image.resolveSibling(image.getFileName() + ".sock");
    return UnixDomainSocketAddress.of(path);
  }

  private String uri(SocketAddress address) {
    String name = exportName;
    if (address instanceof UnixDomainSocketAddress unix) {
      return "nbd+unix:///" + name + "?socket=" + unix.getPath();
    }
    InetSocketAddress inet = (InetSocketAddress) address;
    String host = inet.getAddress().getHostAddress();
    return "nbd://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort() + "/" + name;
  }
}
