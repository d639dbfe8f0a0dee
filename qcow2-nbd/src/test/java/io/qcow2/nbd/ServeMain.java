package io.qcow2.nbd;

import io.qcow2.format.Qcow2Image;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;

/**
 * {@code ServeMain IMAGE SOCKET}: serves the image until the JVM is signalled, as {@code qcow2
 * serve} does, for {@link GracefulStopTest}'s child process. Prints {@code serving} once it listens.
 */
final class ServeMain {
  private ServeMain() {}

  public static void main(String[] args) throws Exception {
    Qcow2Image image = Qcow2Image.open(Path.of(args[0]), ServedImage.OPEN_OPTIONS, true);
    NbdServer server = NbdServer.start(image, UnixDomainSocketAddress.of(Path.of(args[1])),
        ServedImage.settings(1), System.err::println);
    System.out.println("serving");
    System.out.flush();
    server.serveUntilShutdown();
  }
}
