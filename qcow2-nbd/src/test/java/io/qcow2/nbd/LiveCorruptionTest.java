package io.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A corruption event on a live export, as in QEMU's iotest 060 (and qcow2-format's CorruptionTest):
 * guest cluster 0's L2 entry is edited to point at the active L1 table, so the next write through it
 * would overwrite the L1 table. That write fails with EIO, the server logs one line naming the type
 * and the host offset, the image is marked corrupt, later writes on every connection fail with
 * EPERM, and reads go on, on the connection that hit it and on the other one.
 */
class LiveCorruptionTest {
  private static final int CLUSTER = 4096;
  private static final long COPIED = 1L << 63;

  @TempDir Path dir;

  @Test
  void overlappingWriteFailsWithEioAndTheExportGoesOnReading() throws Exception {
    QemuTools.assumeAvailable();
    Path image = dir.resolve("served.qcow2");
    byte[] before = new byte[3 * CLUSTER];
    Arrays.fill(before, (byte) 0x3c);
    try (Qcow2Image created = Qcow2Image.create(image, 4 << 20, Map.of("cluster_size", "4096"),
        ServedImage.OPEN_OPTIONS)) {
      created.write(0, new byte[CLUSTER], 0, CLUSTER);
      created.write(1 << 20, before, 0, before.length);
    }
    long l1Offset = readLong(image, 40);
    long l2Offset = readLong(image, l1Offset) & 0x00ff_ffff_ffff_fe00L;
    writeLong(image, l2Offset, l1Offset | COPIED);

    try (ServedImage served = ServedImage.serve(image, dir.resolve("nbd.sock"), ServedImage.settings(2));
        NbdTestClient hit = served.connect();
        NbdTestClient other = served.connect()) {
      assertEquals(Nbd.EIO, hit.write(512, new byte[] {1, 2, 3, 4}).get(1, TimeUnit.MINUTES).error());
      assertEquals(1, served.log.size(), served.log::toString);
      String line = served.log.get(0);
      assertTrue(line.contains("overlaps with active L1 table")
          && line.contains(String.format("at offset 0x%x", l1Offset + 512)), line);

      assertEquals(Nbd.EPERM, other.write(1 << 20, new byte[1]).get(1, TimeUnit.MINUTES).error());
      assertEquals(Nbd.EPERM, hit.write(2 << 20, new byte[1]).get(1, TimeUnit.MINUTES).error());
      assertEquals(Nbd.EPERM, other.send(Nbd.CMD_WRITE_ZEROES, 0, 0, CLUSTER, null)
          .get(1, TimeUnit.MINUTES).error());
      assertArrayEquals(before, other.read(1 << 20, before.length).get(1, TimeUnit.MINUTES).data());
      assertArrayEquals(before, hit.read(1 << 20, before.length).get(1, TimeUnit.MINUTES).data());
      assertEquals(0, other.send(Nbd.CMD_FLUSH, 0, 0, 0, null).get(1, TimeUnit.MINUTES).error());
      assertEquals(1, served.log.size(), served.log::toString);
    }
    String info = QemuTools.runMerged("qemu-img", "info", image.toString());
    assertTrue(info.contains("corrupt: true"), info);
    assertArrayEquals(before, Arrays.copyOfRange(QemuTools.readRaw(image), 1 << 20, (1 << 20) + before.length));
  }

  @Test
  void qemuIoSeesInputOutputErrorThenOperationNotPermitted() throws Exception {
    QemuTools.assumeAvailable();
    Path image = dir.resolve("served.qcow2");
    try (Qcow2Image created = Qcow2Image.create(image, 4 << 20, Map.of("cluster_size", "4096"),
        ServedImage.OPEN_OPTIONS)) {
      created.write(0, new byte[CLUSTER], 0, CLUSTER);
    }
    long l1Offset = readLong(image, 40);
    long l2Offset = readLong(image, l1Offset) & 0x00ff_ffff_ffff_fe00L;
    writeLong(image, l2Offset, l1Offset | COPIED);
    try (ServedImage served = ServedImage.serve(image, dir.resolve("nbd.sock"), ServedImage.settings(1))) {
      String out = QemuTools.execMerged("qemu-io", "-f", "raw", "-c", "write -P 1 512 512",
          "-c", "write -P 2 1M 512", "-c", "read -P 0 1M 512", served.uri()).stdout();
      assertTrue(out.contains("write failed: Input/output error")
          && out.contains("write failed: Operation not permitted")
          && out.contains("read 512/512 bytes at offset 1048576"), out);
    }
  }

  private static long readLong(Path file, long offset) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(8);
      ch.read(b, offset);
      return b.getLong(0);
    }
  }

  private static void writeLong(Path file, long offset, long value) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(8).putLong(0, value), offset);
    }
  }
}
