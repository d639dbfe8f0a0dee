package io.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.format.QemuTools;
import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * QEMU's own clients against the export: {@code qemu-io} patterns, {@code qemu-img convert} to and
 * from it, {@code qemu-img bench}. After each, {@code qemu-img check} of the image is clean and its
 * content (read by qemu-img from the file, not through us) equals the model.
 */
class NbdInteropTest {
  private static final int SIZE = 16 << 20;

  @TempDir Path dir;

  @Test
  void qemuIoPatternsReadBackThroughTheExportAndFromTheFile() throws Exception {
    QemuTools.assumeAvailable();
    byte[] model = new byte[SIZE];
    try (ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(1))) {
      qemuIo(served, "write -P 0xab 0 64k", "write -P 0x5c 100k 3k", "write -z 1M 128k",
          "write -P 0x11 2M 1M", "discard 2M 64k", "write -P 0x77 15M 1M", "flush");
      fill(model, 0, 64 << 10, 0xab);
      fill(model, 100 << 10, 3 << 10, 0x5c);
      fill(model, 2 << 20, 1 << 20, 0x11);
      fill(model, 2 << 20, 64 << 10, 0);
      fill(model, 15 << 20, 1 << 20, 0x77);
      qemuIo(served, "read -P 0xab 0 64k", "read -P 0x5c 100k 3k", "read -P 0 1M 128k",
          "read -P 0 2M 64k", "read -P 0x11 2112k 960k", "read -P 0x77 15M 1M");
      // FUA and an unaligned write straddling clusters
      qemuIo(served, "write -f -P 0x42 65530 20", "read -P 0x42 65530 20");
      fill(model, 65530, 20, 0x42);
    }
    assertImageEquals(model);
  }

  @Test
  void qemuImgConvertToAndFromTheExport() throws Exception {
    QemuTools.assumeAvailable();
    byte[] source = new byte[SIZE];
    Random random = new Random(17);
    for (int i = 0; i < 40; i++) {
      int at = random.nextInt(SIZE - 70_000);
      byte[] chunk = new byte[1 + random.nextInt(65536)];
      random.nextBytes(chunk);
      System.arraycopy(chunk, 0, source, at, chunk.length);
    }
    Path raw = dir.resolve("source.raw");
    Files.write(raw, source);
    try (ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(1))) {
      QemuTools.runMerged("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", raw.toString(), served.uri());
    }
    assertImageEquals(source);
    try (ServedImage served = ServedImage.serve(dir.resolve("served.qcow2"), dir.resolve("nbd.sock"),
        new NbdServer.Settings("", true, 1))) {
      Path back = dir.resolve("back.raw");
      QemuTools.runMerged("qemu-img", "convert", "-f", "raw", "-O", "raw", served.uri(), back.toString());
      assertArrayEquals(source, Files.readAllBytes(back));
    }
    assertImageEquals(source);
  }

  @Test
  void qemuImgBenchWritesAndReads() throws Exception {
    QemuTools.assumeAvailable();
    try (ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(1))) {
      // -d 16: sixteen requests in flight on the one connection; pattern 0x3 everywhere written.
      QemuTools.runMerged("qemu-img", "bench", "-f", "raw", "-w", "-t", "none", "-d", "16",
          "-c", "256", "-s", "64k", "-S", "64k", "--pattern=3", served.uri());
      QemuTools.runMerged("qemu-img", "bench", "-f", "raw", "-d", "16", "-c", "512", "-s", "4k",
          "-S", "64k", served.uri());
    }
    byte[] model = new byte[SIZE];
    Arrays.fill(model, 0, 256 * 65536, (byte) 3);
    assertImageEquals(model);
  }

  @Test
  void blockStatusShowsDataZerosAndHolesToQemuImgMap() throws Exception {
    QemuTools.assumeAvailable();
    try (ServedImage served = ServedImage.create(dir, SIZE, ServedImage.settings(1))) {
      qemuIo(served, "write -P 0x11 0 128k", "write -z 1M 128k", "write -P 0x22 4M 64k");
      // qemu-img map reads base:allocation through NBD_CMD_BLOCK_STATUS; its reads are structured.
      String map = QemuTools.runMerged("qemu-img", "map", "--output=json", "-f", "raw", served.uri());
      String file = QemuTools.runMerged("qemu-img", "map", "--output=json", "-U", served.image.toString());
      assertEquals(allocation(file), allocation(map), "through NBD:\n" + map + "\nfile:\n" + file);
      assertTrue(map.contains("\"start\": 4194304, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": false, \"data\": true"), map);
      qemuIo(served, "read -P 0x11 0 128k", "read -P 0 1M 128k", "read -P 0x22 4M 64k");
    }
    byte[] model = new byte[SIZE];
    fill(model, 0, 128 << 10, 0x11);
    fill(model, 4 << 20, 64 << 10, 0x22);
    assertImageEquals(model);
  }

  /** The data ranges of a qemu-img map --output=json, as "start+length" strings, merged. */
  private static List<String> allocation(String json) {
    List<String> ranges = new ArrayList<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "\"start\": (\\d+), \"length\": (\\d+),[^}]*\"data\": (true|false)").matcher(json);
    long start = -1;
    long end = -1;
    while (m.find()) {
      if (!m.group(3).equals("true")) {
        continue;
      }
      long s = Long.parseLong(m.group(1));
      long e = s + Long.parseLong(m.group(2));
      if (s == end) {
        end = e;
      } else {
        if (start >= 0) {
          ranges.add(start + "+" + (end - start));
        }
        start = s;
        end = e;
      }
    }
    if (start >= 0) {
      ranges.add(start + "+" + (end - start));
    }
    return ranges;
  }

  @Test
  void tcpOnLoopbackAndANamedExport() throws Exception {
    QemuTools.assumeAvailable();
    Path image = dir.resolve("served.qcow2");
    Qcow2Image.create(image, SIZE, Map.of(), ServedImage.OPEN_OPTIONS).close();
    NbdServer server = NbdServer.start(Qcow2Image.open(image, ServedImage.OPEN_OPTIONS, true),
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
        new NbdServer.Settings("disk0", false, 1), line -> { });
    try {
      int port = ((InetSocketAddress) server.address()).getPort();
      String uri = "nbd://127.0.0.1:" + port + "/disk0";
      String out = QemuTools.runMerged("qemu-io", "-f", "raw", "-c", "write -P 0x21 8M 64k",
          "-c", "read -P 0x21 8M 64k", uri);
      assertFalse(out.contains("fail") || out.contains("error"), out);
      // The default export does not exist on this server.
      QemuTools.Output wrong = QemuTools.execMerged("qemu-io", "-f", "raw", "-c", "read 0 512",
          "nbd://127.0.0.1:" + port + "/");
      assertTrue(wrong.exitCode() != 0 || wrong.stdout().contains("export"), wrong.stdout());
    } finally {
      server.close();
    }
    byte[] model = new byte[SIZE];
    fill(model, 8 << 20, 64 << 10, 0x21);
    assertImageEquals(model);
  }

  private void qemuIo(ServedImage served, String... commands) throws IOException {
    List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
    for (String c : commands) {
      command.add("-c");
      command.add(c);
    }
    command.add(served.uri());
    String out = QemuTools.runMerged(command.toArray(String[]::new));
    if (out.contains("fail") || out.contains("error") || out.contains("Pattern verification")) {
      fail(command + ":\n" + out);
    }
  }

  private void assertImageEquals(byte[] model) throws IOException {
    Path image = dir.resolve("served.qcow2");
    QemuTools.checkClean(image);
    byte[] content = QemuTools.readRaw(image);
    assertEquals(model.length, content.length);
    assertFalse(Files.exists(dir.resolve("nbd.sock")), "socket file left behind");
    assertTrue(Arrays.equals(model, content), "image content differs from the model");
  }

  private static void fill(byte[] model, int from, int length, int value) {
    Arrays.fill(model, from, from + length, (byte) value);
  }
}
