package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qcow2 serve}: option errors in process; serving, qemu-io through the socket and SIGTERM in
 * a child JVM. (Lives with ServeCommand: it moves to the CLI module with it.)
 */
class ServeCommandTest {
  @TempDir Path dir;

  private static String[] run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int status = Qcow2Command.execute(args, new PrintWriter(out), new PrintWriter(err));
    return new String[] {String.valueOf(status), out.toString(), err.toString()};
  }

  @Test
  void contradictoryOrIncompleteAddressesAreRefused() throws Exception {
    Path image = dir.resolve("a.qcow2");
    assertEquals("0", run("create", image.toString(), "1M")[0]);
    String[] both = run("serve", "--socket", dir.resolve("s").toString(), "--port", "0", image.toString());
    assertEquals("1", both[0]);
    assertTrue(both[2].contains("--socket and --port exclude each other"), both[2]);
    String[] bind = run("serve", "--bind", "0.0.0.0", image.toString());
    assertEquals("1", bind[0]);
    assertTrue(bind[2].contains("--bind needs --port"), bind[2]);
    String[] shared = run("serve", "--shared", "0", image.toString());
    assertEquals("1", shared[0]);
    assertTrue(shared[2].contains("maxConnections must be at least 1"), shared[2]);
    String[] missing = run("serve", dir.resolve("missing.qcow2").toString());
    assertEquals("1", missing[0]);
    assertTrue(missing[2].contains("Could not open"), missing[2]);
    assertFalse(Files.exists(dir.resolve("missing.qcow2.sock")));
  }

  @Test
  void servesOnTheDefaultSocketUntilSigterm() throws Exception {
    QemuTools.assumeAvailable();
    Path image = dir.resolve("disk.qcow2");
    assertEquals("0", run("create", image.toString(), "8M")[0]);
    Path socket = dir.resolve("disk.qcow2.sock");
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process serve = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"),
        Qcow2Command.class.getName(), "serve", "--overlap-check", "all", image.toString())
        .redirectErrorStream(true).start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(serve.getInputStream(), StandardCharsets.UTF_8));
      assertEquals("serving " + image + " (8388608 bytes) on nbd+unix:///?socket=" + socket, out.readLine());
      CompletableFuture<String> rest = CompletableFuture.supplyAsync(
          () -> out.lines().reduce("", (a, b) -> a + b + "\n"));
      String io = QemuTools.runMerged("qemu-io", "-f", "raw", "-c", "write -P 0x61 4096 8192",
          "-c", "read -P 0x61 4096 8192", "nbd+unix:///?socket=" + socket);
      assertFalse(io.contains("fail") || io.contains("error"), io);
      serve.destroy();
      assertTrue(serve.waitFor(2, TimeUnit.MINUTES), "qcow2 serve did not stop");
      assertEquals("", rest.get(1, TimeUnit.MINUTES));
      assertFalse(Files.exists(socket));
      QemuTools.checkClean(image);
      QemuTools.ioMerged(image, "read -P 0x61 4096 8192");
    } finally {
      serve.destroyForcibly();
    }
  }
}
