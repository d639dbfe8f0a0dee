package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Hundreds of random writes, zero writes, discards, resizes, reopens and snapshot creates, applies
 * and deletes, against a model of the guest and of every snapshot. After every step the guest view
 * must equal the model and the image's event-tracked checker must agree with the legacy strategy
 * on every cluster ({@link OverlapAgreement}), and the engine's own check (refcounts, COPIED) must
 * be clean; at the end {@code qemu-img check} must be clean and
 * qemu-img must read every snapshot as the model has it.
 *
 * <p>Seed: system property {@code qcow2.random.seed}; steps: {@code qcow2.snapshot.ops} (default
 * 400). A failure names the seed, the step and the operation.
 */
class RandomizedSnapshotTest {
  private static final long SEED = Long.getLong("qcow2.random.seed", 20261125L);
  private static final int OPS = Integer.getInteger("qcow2.snapshot.ops", 400);
  private static final int MAX_SNAPSHOTS = 6;

  @TempDir Path dir;

  @ParameterizedTest(name = "cluster_size={0} compat={1} strategy={2} refcount_bits={3}")
  @CsvSource({"512, 1.1, windowed, 16", "4096, 1.1, windowed, 16", "512, 0.10, windowed, 16",
      "512, 1.1, test-agree, 16", "4096, 1.1, test-agree, 2"})
  void randomSnapshotOperationsMatchModel(int clusterSize, String compat, String strategy,
      int refcountBits) throws Exception {
    QemuTools.assumeAvailable();
    long seed = SEED ^ clusterSize ^ compat.hashCode() ^ refcountBits;
    Random random = new Random(seed);
    int size = clusterSize == 512 ? 192 << 10 : 1 << 20;
    byte[] model = new byte[size];
    Map<String, byte[]> snapshots = new LinkedHashMap<>();
    Path img = dir.resolve("rs.qcow2");
    Map<String, String> create = new HashMap<>();
    create.put("cluster_size", Integer.toString(clusterSize));
    create.put("compat", compat);
    create.put("refcount_bits", Integer.toString(refcountBits));
    Map<String, String> open = TestOptions.openAll(strategy);
    int step = 0;
    String op = "create";
    int counter = 0;
    int refusals = 0;
    Qcow2Image image = Qcow2Image.create(img, size, create, open);
    try {
      for (step = 0; step < OPS; step++) {
        int r = random.nextInt(100);
        int len0 = model.length;
        if (r < 40) {
          int off = random.nextInt(len0);
          int len = Math.min(len0 - off, 1 + random.nextInt(random.nextInt(8) == 0 ? 8 * clusterSize : clusterSize + 100));
          byte[] data = new byte[len];
          Arrays.fill(data, (byte) (1 + random.nextInt(255)));
          data[0] = (byte) step;
          op = "write " + off + "+" + len;
          image.write(off, data, 0, len);
          System.arraycopy(data, 0, model, off, len);
        } else if (r < 45) {
          int off = random.nextInt(len0);
          int len = Math.min(len0 - off, 1 + random.nextInt(4 * clusterSize));
          op = "writeZeroes " + off + "+" + len;
          image.writeZeroes(off, len);
          Arrays.fill(model, off, off + len, (byte) 0);
        } else if (r < 50) {
          int off = random.nextInt(len0);
          int len = Math.min(len0 - off, 1 + random.nextInt(4 * clusterSize));
          op = "discard " + off + "+" + len;
          image.discard(off, len);
          // Whole clusters inside the range read as zeros afterwards; partial ones are unchanged.
          long first = ((long) off + clusterSize - 1) / clusterSize * clusterSize;
          long end = off + len == len0 ? len0 : (long) (off + len) / clusterSize * clusterSize;
          if (end > first) {
            Arrays.fill(model, (int) first, (int) end, (byte) 0);
          }
        } else if (r < 52) {
          int grow = clusterSize * (1 + random.nextInt(64));
          op = "resize +" + grow;
          image.resize(len0 + grow);
          model = Arrays.copyOf(model, len0 + grow);
        } else if (r < 55) {
          op = "reopen";
          image.close();
          image = Qcow2Image.open(img, open, true);
        } else if (r < 70) {
          if (snapshots.size() >= MAX_SNAPSHOTS) {
            continue;
          }
          String name = "snap" + counter++;
          op = "create " + name;
          Qcow2Image target = image;
          if (refused(() -> target.createSnapshot(name))) {
            refusals++;
          } else {
            snapshots.put(name, model.clone());
          }
        } else if (r < 85) {
          if (snapshots.isEmpty()) {
            continue;
          }
          String name = pick(random, snapshots);
          op = "apply " + name;
          Qcow2Image target = image;
          if (refused(() -> target.applySnapshot(name))) {
            refusals++;
          } else {
            model = snapshots.get(name).clone();
          }
        } else {
          if (snapshots.isEmpty()) {
            continue;
          }
          String name = pick(random, snapshots);
          op = "delete " + name;
          image.deleteSnapshot(name);
          snapshots.remove(name);
        }
        String context = "seed " + seed + " step " + step + " (" + op + ")";
        assertEquals(model.length, image.virtualSize(), context);
        byte[] guest = new byte[model.length];
        image.read(0, guest, 0, guest.length);
        assertArrayEquals(model, guest, context);
        assertEquals(new ArrayList<>(snapshots.keySet()),
            image.listSnapshots().stream().map(SnapshotInfo::name).toList(), context);
        OverlapAgreement.assertAgree(image, context);
        MetadataInvariants.verify(image);
        // Refcounts and COPIED flags as qemu-img check would see them, at every step.
        CheckResult check = ImageCheck.run(img);
        if (!check.isClean()) {
          throw new AssertionError(context + ": ImageCheck " + check);
        }
      }
    } catch (Exception | AssertionError e) {
      throw new AssertionError("seed " + seed + " failed at step " + step + " (" + op + "): " + e, e);
    } finally {
      image.close();
    }
    System.out.printf("cluster_size=%d compat=%s strategy=%s refcount_bits=%d: %d steps, %d"
        + " snapshots left, %d operations refused for refcount overflow%n", clusterSize, compat,
        strategy, refcountBits, OPS, snapshots.size(), refusals);
    QemuTools.checkClean(img);
    assertArrayEquals(model, QemuTools.readRaw(img), "seed " + seed + ": qemu-img reads the active state");
    for (Map.Entry<String, byte[]> s : snapshots.entrySet()) {
      // qemu-img convert -l reads a snapshot at the image's current virtual size, not the
      // snapshot's: compare the common part; anything beyond the snapshot's size reads as zeros.
      byte[] raw = SnapshotTest.snapshotToRaw(img, s.getKey());
      byte[] expected = Arrays.copyOf(s.getValue(), raw.length);
      assertArrayEquals(expected, raw, "seed " + seed + ": qemu-img reads snapshot " + s.getKey());
    }
  }

  private interface SnapshotOperation {
    void run() throws Exception;
  }

  /**
   * Runs {@code operation}; true if it was refused because a refcount would overflow (narrow
   * refcounts), which must leave the image as it was (the checks after the step verify that).
   */
  private static boolean refused(SnapshotOperation operation) throws Exception {
    try {
      operation.run();
      return false;
    } catch (Qcow2Exception e) {
      if (!e.getMessage().contains("maximum refcount")) {
        throw e;
      }
      return true;
    }
  }

  private static String pick(Random random, Map<String, byte[]> snapshots) {
    List<String> names = new ArrayList<>(snapshots.keySet());
    return names.get(random.nextInt(names.size()));
  }
}
