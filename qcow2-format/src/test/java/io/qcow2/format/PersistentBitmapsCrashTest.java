package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A crash at any host write of a session with persistent bitmaps (the in-use marking at open, the
 * guest writes, the store at close) leaves an image {@code qemu-img check} finds leaking at worst,
 * whose bitmaps are either in use (inconsistent, as QEMU leaves them when it dies), ignored (the
 * autoclear bit cleared mid-marking, as in QEMU), or hold exactly the bits before or after the
 * session: never a consistent-looking bitmap that misses a write. The crash is injected by the
 * test strategy {@code test-crash} (CrashingOverlapChecker), as in CrashConsistencyTest.
 */
class PersistentBitmapsCrashTest {
  private static final List<String> NAMES = List.of("g4k", "g64k", "off");
  private static final int[] GRANULARITIES = {4096, 65536, 65536};
  @TempDir Path dir;

  @Test
  void aCrashAnywhereLeavesBitmapsInUseOrRight() throws Exception {
    QemuTools.assumeAvailable();
    Path base = QemuTools.create(dir.resolve("base.qcow2"), "cluster_size=4096", "4M");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", "-g", "4096", base.toString(), "g4k");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", "-g", "65536", base.toString(), "g64k");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", "--disable", base.toString(), "off");
    QemuTools.io(base, "write 8k 4k");
    BitSet[] before = {granules(8192, 4096, 4096), granules(8192, 4096, 65536), new BitSet()};
    BitSet[] after = {granules(8192, 4096, 4096), granules(8192, 4096, 65536), new BitSet()};
    for (long[] w : WRITES) {
      after[0].or(granules(w[0], w[1], 4096));
      after[1].or(granules(w[0], w[1], 65536));
    }
    Path img = dir.resolve("crash.qcow2");
    Files.copy(base, img);
    CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
    try (Qcow2Image image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true)) {
      workload(image);
    }
    long total = Long.MAX_VALUE - CrashingOverlapChecker.checksLeft();
    assertBitmaps(img, after, after);
    QemuTools.checkClean(img);
    assertTrue(total > 20, "too few host writes: " + total);
    int inUse = 0;
    int ignored = 0;
    int stored = 0;
    for (long n = 0; n <= total; n++) {
      Files.copy(base, img, StandardCopyOption.REPLACE_EXISTING);
      CrashingOverlapChecker.crashBefore(n);
      Qcow2Image image = null;
      try {
        image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true);
        workload(image);
        image.close();
        if (n < total) {
          fail("no crash before write " + n + " of " + total);
        }
      } catch (CrashingOverlapChecker.SimulatedCrash expected) {
        if (image != null) {
          try {
            image.close(); // releases the file; every write fails from now on
          } catch (CrashingOverlapChecker.SimulatedCrash alsoDead) {
            // the write-back on close died too
          }
        }
      } finally {
        CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
      }
      String what = "crash before write " + n + " of " + total;
      QemuTools.Output check = QemuTools.execMerged("qemu-img", "check", img.toString());
      if ((check.exitCode() != 0 && check.exitCode() != 3) || check.stdout().contains("ERROR")) {
        fail(what + ": qemu-img check exit " + check.exitCode() + "\n" + check.stdout());
      }
      assertEquals(check.exitCode(), ImageCheck.run(img).exitCode(), what + ": our check and qemu-img's");
      Map<String, String> flags = PersistentBitmapsInteropTest.infoFlags(img);
      if (flags.isEmpty()) {
        ignored++; // the autoclear bit was cleared: QEMU ignores the bitmaps, check counts leaks
        continue;
      }
      assertEquals(NAMES, List.copyOf(flags.keySet()), what);
      if (flags.get("g4k").contains("in-use")) {
        inUse++;
        for (String name : NAMES) {
          assertTrue(flags.get(name).contains("in-use"), what + ": " + flags);
        }
        continue;
      }
      stored++;
      assertBitmaps(img, before, after);
    }
    System.out.printf("%d crash points: %d in use, %d ignored, %d consistent%n", total + 1, inUse,
        ignored, stored);
    assertTrue(inUse > 0 && stored > 0, "every kind of state reached");
  }

  private static final long[][] WRITES = {{0, 5000}, {1 << 20, 70000}, {3 << 20, 4096}, {2 << 20, 100}};

  private static void workload(Qcow2Image image) throws IOException {
    image.write(WRITES[0][0], new byte[(int) WRITES[0][1]], 0, (int) WRITES[0][1]);
    image.write(WRITES[1][0], new byte[(int) WRITES[1][1]], 0, (int) WRITES[1][1]);
    image.writeZeroes(WRITES[2][0], WRITES[2][1]);
    image.discard(WRITES[3][0], WRITES[3][1]);
  }

  private static BitSet granules(long offset, long length, long granularity) {
    BitSet b = new BitSet();
    b.set((int) (offset / granularity), (int) ((offset + length - 1) / granularity) + 1);
    return b;
  }

  /** Each bitmap, read with the engine, holds exactly {@code before} or exactly {@code after}. */
  private static void assertBitmaps(Path img, BitSet[] before, BitSet[] after) throws IOException {
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      for (int i = 0; i < NAMES.size(); i++) {
        BitSet read = new BitSet();
        long granules = (image.virtualSize() + GRANULARITIES[i] - 1) / GRANULARITIES[i];
        for (long g = 0; g < granules; g++) {
          if (image.bitmaps().isDirty(i, g)) {
            read.set((int) g);
          }
        }
        if (!read.equals(before[i]) && !read.equals(after[i])) {
          fail(NAMES.get(i) + " holds " + read + ", neither " + before[i] + " nor " + after[i]);
        }
      }
    }
  }
}
