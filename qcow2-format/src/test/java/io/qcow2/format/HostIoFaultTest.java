package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.Mockito.clearInvocations;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.spy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Faults injected below the engine, in its host I/O ({@link HostIo}, a Mockito spy of the file
 * implementation): no hook in the engine. A write that fails (EIO) from the n-th host write on,
 * for every n of a workload, leaves an image {@code qemu-img check} finds leaks in at worst; an
 * overlap refusal reaches the host only as the corrupt bit.
 */
class HostIoFaultTest {
  @TempDir Path dir;

  /** Host writes as the spy saw them: {offset, length}. */
  private final List<long[]> writes = new ArrayList<>();
  /** Host writes from this one on fail (MAX_VALUE: none). */
  private long failFrom = Long.MAX_VALUE;

  private HostIo spyOn(Path path, boolean writable) throws IOException {
    HostIo io = spy(HostIo.FILES.open(path, writable));
    doAnswer(call -> {
      ByteBuffer src = call.getArgument(0);
      long position = call.getArgument(1);
      if (writes.size() >= failFrom) {
        throw new IOException("injected EIO at host write " + writes.size());
      }
      writes.add(new long[] {position, src.remaining()});
      return call.callRealMethod();
    }).when(io).write(any(ByteBuffer.class), anyLong());
    return io;
  }

  @ParameterizedTest(name = "cluster_size={0}")
  @CsvSource({"512", "65536"})
  void failingWritesFromAnyPointLeakAtWorst(int clusterSize) throws Exception {
    QemuTools.assumeAvailable();
    Path base = dir.resolve("base.qcow2");
    Qcow2Image.create(base, 1 << 20, Map.of("cluster_size", Integer.toString(clusterSize)),
        TestOptions.open()).close();
    QemuTools.ioMerged(base, "write -P 0x61 0 64k");
    QemuTools.runMerged("qemu-img", "snapshot", "-c", "s", base.toString());
    Path img = dir.resolve("eio.qcow2");
    Files.copy(base, img);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true, this::spyOn)) {
      workload(image);
    }
    long total = writes.size();
    QemuTools.checkClean(img);
    assertTrue(total > 20, "workload too small: " + total + " writes");
    long step = Math.max(1, total / 100);
    for (long n = 0; n < total; n += step) {
      Files.copy(base, img, StandardCopyOption.REPLACE_EXISTING);
      writes.clear();
      failFrom = n;
      Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true, this::spyOn);
      try {
        workload(image);
        fail("no failure from write " + n + " of " + total);
      } catch (IOException expected) {
        assertTrue(String.valueOf(expected.getMessage()).contains("injected EIO")
            || hasInjectedCause(expected), "unexpected: " + expected);
      } finally {
        try {
          image.close();
        } catch (IOException alsoFailing) {
          // the write-back on close fails too
        }
        failFrom = Long.MAX_VALUE;
      }
      QemuTools.Output r = QemuTools.execMerged("qemu-img", "check", img.toString());
      if ((r.exitCode() != 0 && r.exitCode() != 3) || r.stdout().contains("ERROR")) {
        fail("EIO from host write " + n + " of " + total + ": qemu-img check exit " + r.exitCode()
            + "\n" + r.stdout());
      }
    }
  }

  private static boolean hasInjectedCause(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (String.valueOf(c.getMessage()).contains("injected EIO")) {
        return true;
      }
    }
    return false;
  }

  /**
   * A guest write onto the L1 table (an L2 entry edited to point there, iotest 060's first case)
   * is refused by the overlap check before it reaches the host: the only host write of the
   * refused request is the 8-byte incompatible-features field (the corrupt bit).
   */
  @Test
  void anOverlapRefusalWritesOnlyTheCorruptBit() throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("overlap.qcow2");
    QemuTools.create(img, "cluster_size=65536", "1M");
    QemuTools.ioMerged(img, "write -P 0x11 0 64k");
    long l1 = ImageFiles.readLong(img, 40);
    long l2 = ImageFiles.readLong(img, l1) & 0x00ff_ffff_ffff_fe00L;
    ImageFiles.writeLong(img, l2, (1L << 63) | l1);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.openAll(TestOptions.defaultStrategy()), true,
        this::spyOn)) {
      writes.clear();
      byte[] data = new byte[512];
      new Random(1).nextBytes(data);
      assertThrows(MetadataOverlapException.class, () -> image.write(0, data, 0, data.length));
      assertEquals(1, writes.size(), "host writes of the refused request: " + describe(writes));
      assertEquals(72, writes.get(0)[0]);
      assertEquals(8, writes.get(0)[1]);
      clearInvocations();
    }
    assertTrue(QemuTools.runMerged("qemu-img", "info", img.toString()).contains("corrupt: true"));
  }

  private static String describe(List<long[]> writes) {
    StringBuilder out = new StringBuilder();
    for (long[] w : writes) {
      out.append(String.format("[0x%x, +%d] ", w[0], w[1]));
    }
    return out.toString();
  }

  /** The workload of {@link CrashConsistencyTest}, smaller: allocation, COW, zero, discard, resize. */
  private static void workload(Qcow2Image image) throws IOException {
    CrashConsistencyTest.mixedWrites(image, new Random(7), 8);
    image.flush();
  }
}
