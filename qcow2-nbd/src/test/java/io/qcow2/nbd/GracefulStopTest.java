package io.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import io.qcow2.format.Qcow2Image;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stopping with requests in flight: the requests the server has read are answered, every write it
 * acknowledged is in the file, the image is flushed and closed clean ({@code qemu-img check}), the
 * socket file is gone. Once in process ({@link NbdServer#close}) and once in a child JVM serving
 * with {@link NbdServer#serveUntilShutdown} (as {@code qcow2 serve} does) stopped by SIGTERM.
 */
class GracefulStopTest {
  private static final int SIZE = 16 << 20;
  private static final int WRITES = 256;
  private static final int LENGTH = 64 << 10;

  @TempDir Path dir;

  @Test
  void closeAnswersWhatWasReadAndClosesTheImageClean() throws Exception {
    QemuTools.assumeAvailable();
    ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(1));
    NbdTestClient client = served.connect();
    List<CompletableFuture<NbdTestClient.Reply>> replies = sendWrites(client);
    served.close();
    assertAcknowledgedWritesInFile(replies, served.image);
    assertFalse(Files.exists(served.socket));
    client.close();
  }

  @Test
  void sigtermStopsAServingProcessGracefully() throws Exception {
    QemuTools.assumeAvailable();
    Path image = dir.resolve("served.qcow2");
    Qcow2Image.create(image, SIZE, Map.of(), ServedImage.OPEN_OPTIONS).close();
    Path socket = dir.resolve("serve.sock");
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process serve = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"),
        ServeMain.class.getName(), image.toString(), socket.toString())
        .redirectErrorStream(true).start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(serve.getInputStream(), StandardCharsets.UTF_8));
      String first = out.readLine();
      assertEquals("serving", first);
      CompletableFuture<String> rest = CompletableFuture.supplyAsync(
          () -> out.lines().reduce("", (a, b) -> a + b + "\n"));
      NbdTestClient client = NbdTestClient.connect(UnixDomainSocketAddress.of(socket), "");
      List<CompletableFuture<NbdTestClient.Reply>> replies = sendWrites(client);
      replies.get(WRITES / 4).get(1, TimeUnit.MINUTES);
      serve.destroy(); // SIGTERM
      assertTrue(serve.waitFor(2, TimeUnit.MINUTES), "the server did not stop");
      assertTrue(serve.exitValue() == 0 || serve.exitValue() == 128 + 15, "exit status " + serve.exitValue());
      assertEquals("", rest.get(1, TimeUnit.MINUTES), "the server printed more than its first line");
      assertAcknowledgedWritesInFile(replies, image);
      assertFalse(Files.exists(socket));
      client.close();
    } finally {
      serve.destroyForcibly();
    }
  }

  /** Sends WRITES writes of LENGTH bytes of pattern i+1 at i * LENGTH without waiting for replies. */
  private static List<CompletableFuture<NbdTestClient.Reply>> sendWrites(NbdTestClient client) throws Exception {
    List<CompletableFuture<NbdTestClient.Reply>> replies = new ArrayList<>();
    for (int i = 0; i < WRITES; i++) {
      byte[] data = new byte[LENGTH];
      Arrays.fill(data, (byte) (i + 1));
      try {
        replies.add(client.write((long) i * LENGTH, data));
      } catch (java.io.IOException e) {
        break; // the server has stopped reading
      }
    }
    return replies;
  }

  private static void assertAcknowledgedWritesInFile(
      List<CompletableFuture<NbdTestClient.Reply>> replies, Path image) throws Exception {
    QemuTools.checkClean(image);
    byte[] content = QemuTools.readRaw(image);
    int acknowledged = 0;
    for (int i = 0; i < replies.size(); i++) {
      NbdTestClient.Reply reply;
      try {
        reply = replies.get(i).get(1, TimeUnit.MINUTES);
      } catch (ExecutionException e) {
        continue; // not answered: the server had not read it
      }
      assertEquals(0, reply.error(), "write " + i);
      byte[] expected = new byte[LENGTH];
      Arrays.fill(expected, (byte) (i + 1));
      assertArrayEquals(expected, Arrays.copyOfRange(content, i * LENGTH, (i + 1) * LENGTH), "write " + i);
      acknowledged++;
    }
    assertTrue(acknowledged > 0, "no write acknowledged");
    System.out.println(acknowledged + " of " + replies.size() + " writes acknowledged before the stop");
  }
}
