package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random guest requests, resizes and reopenings against a model of every bitmap's granules: after
 * each session the engine reads back exactly the model, and at the end QEMU does too. Seed and
 * operation count: {@code -Dqcow2.bitmaps.seed}, {@code -Dqcow2.bitmaps.ops}; a failure names the
 * seed.
 */
class RandomizedBitmapsTest {
  private static final int MB = 1 << 20;
  private static final long[] GRANULARITIES = {512, 4096, 65536, 1 << 20};
  @TempDir Path dir;

  @Test
  void randomRequestsAgainstAModel() throws Exception {
    QemuTools.assumeAvailable();
    long seed = Long.getLong("qcow2.bitmaps.seed", 20261130L);
    int ops = Integer.getInteger("qcow2.bitmaps.ops", 600);
    Random random = new Random(seed);
    Path img = QemuTools.create(dir.resolve("r.qcow2"), "cluster_size=" + (512 << random.nextInt(8)), "6M");
    for (int i = 0; i < GRANULARITIES.length; i++) {
      QemuTools.runMerged("qemu-img", "bitmap", "--add", "-g", Long.toString(GRANULARITIES[i]),
          img.toString(), "b" + i);
    }
    BitSet[] model = new BitSet[GRANULARITIES.length];
    for (int i = 0; i < model.length; i++) {
      model[i] = new BitSet();
    }
    String failure = "seed " + seed + " (-Dqcow2.bitmaps.seed=" + seed + ")";
    long size = 6 * MB;
    int sessions = 4;
    for (int session = 0; session < sessions; session++) {
      try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
        for (int op = 0; op < ops / sessions; op++) {
          int kind = random.nextInt(20);
          if (kind == 0) {
            long newSize = (2 + random.nextInt(10)) * (long) MB + 512L * random.nextInt(100);
            if (newSize < size) {
              image.shrink(newSize);
              for (int i = 0; i < model.length; i++) {
                model[i].clear((int) ((newSize + GRANULARITIES[i] - 1) / GRANULARITIES[i]), Integer.MAX_VALUE);
              }
            } else {
              image.resize(newSize);
            }
            size = newSize;
            continue;
          }
          long length = random.nextInt(8) == 0 ? random.nextInt(2 * MB) : random.nextInt(20000);
          length = Math.min(length, size);
          long offset = (long) (random.nextDouble() * (size - length));
          switch (kind % 4) {
            case 0 -> image.writeZeroes(offset, length);
            case 1 -> image.discard(offset, length);
            default -> image.write(offset, new byte[(int) length], 0, (int) length);
          }
          if (length > 0) {
            for (int i = 0; i < model.length; i++) {
              model[i].set((int) (offset / GRANULARITIES[i]), (int) ((offset + length - 1) / GRANULARITIES[i]) + 1);
            }
          }
        }
      }
      try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
        for (int i = 0; i < model.length; i++) {
          BitSet read = new BitSet();
          long granules = (image.virtualSize() + GRANULARITIES[i] - 1) / GRANULARITIES[i];
          for (long g = 0; g < granules; g++) {
            if (image.bitmaps().isDirty(i, g)) {
              read.set((int) g);
            }
          }
          assertEquals(model[i], read, failure + ", session " + session + ", b" + i);
        }
      }
    }
    QemuTools.checkClean(img);
    for (int i = 0; i < model.length; i++) {
      assertTrue(model[i].cardinality() > 0, failure + ": b" + i + " has dirty granules");
      assertEquals(model[i], PersistentBitmapsInteropTest.dirtyGranules(img, "b" + i, GRANULARITIES[i], size),
          failure + ": QEMU reads b" + i);
    }
  }
}
