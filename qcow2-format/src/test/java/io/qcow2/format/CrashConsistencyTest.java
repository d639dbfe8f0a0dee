package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The process "dies" before the n-th host write, for every n of a workload that allocates data
 * clusters, L2 tables, refcount blocks, grows the refcount table, moves the L1 table, copies on
 * write and frees clusters: {@code qemu-img check} may find leaks, never an error.
 */
class CrashConsistencyTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "cluster_size={0} refcount_bits={1}")
  @CsvSource({"512, 16", "512, 64", "4096, 1"})
  void aCrashBeforeAnyWriteLeaksAtWorst(int clusterSize, int refcountBits) throws Exception {
    QemuTools.assumeAvailable();
    Path base = dir.resolve("base.qcow2");
    Qcow2Image.create(base, 1 << 20, Map.of("cluster_size", Integer.toString(clusterSize),
        "refcount_bits", Integer.toString(refcountBits)), TestOptions.open()).close();
    if (refcountBits > 1) {
      QemuTools.ioMerged(base, "write -P 0x61 0 64k");
      QemuTools.runMerged("qemu-img", "snapshot", "-c", "s", base.toString());
    }
    Path img = dir.resolve("crash.qcow2");
    Files.copy(base, img);
    long total;
    try (Qcow2Image image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true)) {
      CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
      long reftable = image.info().refcountTableOffset();
      workload(image);
      total = Long.MAX_VALUE - CrashingOverlapChecker.checksLeft();
      System.out.printf("cluster_size=%d refcount_bits=%d: %d host writes, refcount table %s%n",
          clusterSize, refcountBits, total, reftable == image.info().refcountTableOffset() ? "stayed" : "moved");
    }
    QemuTools.checkClean(img);
    assertTrue(total > 20, "workload too small: " + total + " writes");
    long step = Math.max(1, total / 120);
    for (long n = 0; n < total; n += step) {
      Files.copy(base, img, StandardCopyOption.REPLACE_EXISTING);
      Qcow2Image image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true);
      CrashingOverlapChecker.crashBefore(n);
      try {
        workload(image);
        fail("no crash after " + n + " of " + total + " writes");
      } catch (CrashingOverlapChecker.SimulatedCrash expected) {
        // The process died before write n. Closing cannot write anything either (every write
        // fails from now on); it only releases the file.
        try {
          image.close();
        } catch (CrashingOverlapChecker.SimulatedCrash alsoDead) {
          // the write-back on close died too
        }
      } finally {
        CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
      }
      QemuTools.Output r = QemuTools.execMerged("qemu-img", "check", img.toString());
      if ((r.exitCode() != 0 && r.exitCode() != 3) || r.stdout().contains("ERROR")) {
        fail("crash before write " + n + " of " + total + ": qemu-img check exit " + r.exitCode() + "\n" + r.stdout());
      }
    }
  }

  private static void workload(Qcow2Image image) throws IOException {
    Random random = new Random(7);
    byte[] data = mixedWrites(image, random, 12);
    // Enough host data to outgrow the first refcount table (8 MiB of clusters for 512 B/16 bit).
    byte[] big = new byte[9 << 20];
    random.nextBytes(big);
    image.write(1 << 20, big, 0, big.length);
    Arrays.fill(data, (byte) 1);
    image.write(image.virtualSize() / 2, data, 0, data.length);
  }

  /**
   * Allocation, copy-on-write, zero writes, discard and resize: {@code randomWrites} random writes
   * of five clusters and a bit, then one of each of the others. Returns the last buffer written.
   */
  static byte[] mixedWrites(Qcow2Image image, Random random, int randomWrites) throws IOException {
    int cluster = image.clusterSize();
    byte[] data = new byte[5 * cluster + 77];
    for (int i = 0; i < randomWrites; i++) {
      random.nextBytes(data);
      long off = (long) random.nextInt((int) image.virtualSize() - data.length);
      image.write(off, data, 0, data.length);
    }
    image.write(100, data, 0, 3 * cluster);
    image.writeZeroes(cluster, 2L * cluster);
    image.discard(0, 4L * cluster);
    image.resize(image.virtualSize() * 40);
    image.write(image.virtualSize() - data.length, data, 0, data.length);
    return data;
  }
}
