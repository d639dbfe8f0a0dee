package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Lazy refcounts ({@code lazy_refcounts=on}, compat 1.1): refcount blocks wait for flush or close
 * while the dirty bit is set, as QEMU does; a crash at any host write leaves an image that both
 * {@code qemu-img check -r all} and our read/write open bring back to clean, with every write
 * completed before the crash readable.
 */
class LazyRefcountsTest {
  private static final int CLUSTER = 4096;

  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  private static boolean dirtyOnDisk(Path image) throws IOException {
    return (ImageFiles.readLong(image, 72) & Header.INCOMPAT_DIRTY) != 0;
  }

  @Test
  void refcountsWaitForCloseWhileTheDirtyBitIsSet() throws IOException {
    Path image = QemuTools.create(dir.resolve("lazy.qcow2"), "lazy_refcounts=on,cluster_size=4096", "4M");
    try (Qcow2Image img = Qcow2Image.open(image, TestOptions.open(), true)) {
      assertFalse(dirtyOnDisk(image));
      byte[] data = new byte[3 * CLUSTER];
      Arrays.fill(data, (byte) 0x42);
      img.write(CLUSTER, data, 0, data.length);
      assertTrue(dirtyOnDisk(image), "dirty before the tables that need the refcounts are written");
      assertTrue(img.info().dirty());
      QemuTools.QemuCheck meanwhile = QemuTools.check(image);
      assertEquals(2, meanwhile.exitCode(), "the file's refcounts lag: " + meanwhile.fields());
      img.flush();
      assertTrue(dirtyOnDisk(image), "flush writes refcounts and keeps the bit, as QEMU");
    }
    assertFalse(dirtyOnDisk(image));
    QemuTools.checkClean(image);
    QemuTools.io(image, "read -P 0x42 4k 12k");
  }

  @Test
  void imagesWithoutLazyRefcountsNeverGetTheDirtyBit() throws IOException {
    Path image = dir.resolve("eager.qcow2");
    try (Qcow2Image img = Qcow2Image.create(image, 4 << 20, Map.of("cluster_size", "4096"), TestOptions.open())) {
      img.write(0, new byte[] {1, 2, 3}, 0, 3);
      assertFalse(dirtyOnDisk(image));
      QemuTools.checkClean(image);
    }
  }

  @Test
  void aFailedRequestWithDeferredRefcountsStopsWritingUntilReopened() throws IOException {
    Path image = dir.resolve("failed.qcow2");
    try (Qcow2Image img = Qcow2Image.create(image, 1 << 20,
        Map.of("cluster_size", "4096", "lazy_refcounts", "on"), TestOptions.open())) {
      img.write(0, new byte[CLUSTER], 0, CLUSTER);
      img.write(0, new byte[] {9}, 0, 1);
      assertThrows(Qcow2Exception.class, () -> img.writeCompressed(0, new byte[CLUSTER], 0, CLUSTER));
      ReadOnlyImageException e = assertThrows(ReadOnlyImageException.class,
          () -> img.write(CLUSTER, new byte[1], 0, 1));
      assertTrue(e.getMessage().contains("lazy refcounts"), e.getMessage());
    }
    assertTrue(dirtyOnDisk(image), "left dirty: its refcounts on disk are stale");
    try (Qcow2Image img = Qcow2Image.open(image, TestOptions.open(), true)) {
      img.write(CLUSTER, new byte[] {5}, 0, 1);
    }
    QemuTools.checkClean(image);
    QemuTools.io(image, "read -P 9 0 1", "read -P 5 4k 1");
  }

  /** The process dies before the n-th host write; every n of the workload is tried. */
  @Test
  void aCrashAnywhereIsRepairedByQemuAndByOpening() throws Exception {
    Path base = dir.resolve("base.qcow2");
    Qcow2Image.create(base, 4 << 20, Map.of("cluster_size", "4096", "lazy_refcounts", "on"),
        TestOptions.open()).close();
    Path img = dir.resolve("crash.qcow2");
    Files.copy(base, img);
    long total;
    try (Qcow2Image image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true)) {
      CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
      workload(image, Integer.MAX_VALUE);
      total = Long.MAX_VALUE - CrashingOverlapChecker.checksLeft();
    }
    QemuTools.checkClean(img);
    byte[][] expected = new byte[STEPS + 1][];
    for (int steps = 0; steps <= STEPS; steps++) {
      expected[steps] = model(steps);
    }
    for (long n = 0; n < total; n++) {
      Files.copy(base, img, StandardCopyOption.REPLACE_EXISTING);
      Qcow2Image image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true);
      CrashingOverlapChecker.crashBefore(n);
      int completed = -1;
      try {
        completed = workload(image, Integer.MAX_VALUE);
        fail("no crash before write " + n + " of " + total);
      } catch (CrashingOverlapChecker.SimulatedCrash expectedCrash) {
        completed = lastCompleted;
        try {
          image.close();
        } catch (CrashingOverlapChecker.SimulatedCrash alsoDead) {
          // the write-back on close died too
        }
      } finally {
        CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
      }
      String context = "crash before write " + n + " of " + total + " after " + completed + " writes";
      Path theirs = Files.copy(img, dir.resolve("theirs.qcow2"), StandardCopyOption.REPLACE_EXISTING);
      QemuTools.Output repaired = QemuTools.execMerged("qemu-img", "check", "-r", "all", theirs.toString());
      assertTrue(repaired.exitCode() == 0, context + ": qemu-img check -r all\n" + repaired.stdout());
      QemuTools.checkClean(theirs);
      try (Qcow2Image reopened = Qcow2Image.open(img, TestOptions.open(), true)) {
        byte[] guest = new byte[(int) reopened.virtualSize()];
        reopened.read(0, guest, 0, guest.length);
        boolean asBefore = Arrays.equals(expected[completed], guest);
        boolean asAfter = completed < STEPS && Arrays.equals(expected[completed + 1], guest);
        assertTrue(asBefore || asAfter, context + ": guest contents neither before nor after the write in flight");
      }
      QemuTools.checkClean(img);
    }
    System.out.printf("lazy refcounts: %d crash points, every one repaired by qemu-img check -r all and by opening%n", total);
  }

  private static final int STEPS = 10;
  private int lastCompleted;

  /** The workload's writes, counting completed ones in {@link #lastCompleted}; returns the count. */
  private int workload(Qcow2Image image, int maxSteps) throws IOException {
    lastCompleted = 0;
    for (int step = 0; step < Math.min(STEPS, maxSteps); step++) {
      apply(image, step);
      lastCompleted = step + 1;
    }
    image.flush();
    return lastCompleted;
  }

  private static byte[] model(int steps) {
    byte[] guest = new byte[4 << 20];
    for (int step = 0; step < steps; step++) {
      Random random = new Random(step);
      long offset = random.nextInt(guest.length - 20_000);
      byte[] data = new byte[1 + random.nextInt(20_000)];
      random.nextBytes(data);
      if (step % 4 == 3) {
        Arrays.fill(guest, (int) offset, (int) offset + data.length, (byte) 0);
      } else {
        System.arraycopy(data, 0, guest, (int) offset, data.length);
      }
    }
    return guest;
  }

  private static void apply(Qcow2Image image, int step) throws IOException {
    Random random = new Random(step);
    long offset = random.nextInt((4 << 20) - 20_000);
    byte[] data = new byte[1 + random.nextInt(20_000)];
    random.nextBytes(data);
    if (step % 4 == 3) {
      image.writeZeroes(offset, data.length);
    } else {
      image.write(offset, data, 0, data.length);
    }
  }
}
