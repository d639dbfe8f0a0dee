package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Thousands of random writes, zero writes and discards, checked against an in-memory model after
 * every step; {@code qemu-img check} and {@code qemu-img convert} at the end.
 *
 * <p>Seed: system property {@code qcow2.random.seed} (default fixed); operations: {@code
 * qcow2.random.ops} (default 3000). A failure message names the seed and step.
 */
class RandomizedWriteTest {
  private static final long SEED = Long.getLong("qcow2.random.seed", 20261125L);
  private static final int OPS = Integer.getInteger("qcow2.random.ops", 3000);

  @TempDir Path dir;

  @ParameterizedTest(name = "cluster_size={0} refcount_bits={1} compat={2}")
  @CsvSource({"512, 16, 1.1", "65536, 16, 1.1", "512, 2, 1.1", "65536, 64, 1.1", "512, 16, 0.10"})
  void randomOperationsMatchModel(int clusterSize, int refcountBits, String compat) throws Exception {
    run(clusterSize, refcountBits, compat, TestOptions.defaultStrategy());
  }


  @ParameterizedTest(name = "strategy={0}")
  @org.junit.jupiter.params.provider.MethodSource("io.qcow2.format.TestOptions#strategies")
  void randomOperationsWithEachStrategy(String strategy) throws Exception {
    run(512, 16, "1.1", strategy);
  }

  /**
   * With QEMU's smallest caches (two L2 tables, four refcount blocks: {@code l2-cache-size} and
   * {@code refcount-cache-size} below the minimum) nearly every operation evicts: what is cached
   * must never matter.
   */
  @ParameterizedTest(name = "cluster_size={0}, tiny caches")
  @CsvSource({"512", "4096"})
  void randomOperationsWithTinyCaches(int clusterSize) throws Exception {
    tinyCaches = true;
    try {
      run(clusterSize, 16, "1.1", TestOptions.defaultStrategy());
    } finally {
      tinyCaches = false;
    }
  }

  private boolean tinyCaches;

  private Map<String, String> openOptions(String strategy) {
    Map<String, String> options = TestOptions.open(strategy);
    if (tinyCaches) {
      options.put("l2-cache-size", "1");
      options.put("refcount-cache-size", "1");
    }
    return options;
  }

  private void run(int clusterSize, int refcountBits, String compat, String strategy) throws Exception {
    QemuTools.assumeAvailable();
    long seed = SEED ^ clusterSize ^ ((long) refcountBits << 32);
    Random random = new Random(seed);
    int size = clusterSize == 512 ? (2 << 20) + 1536 : 12 << 20;
    byte[] model = new byte[size];
    Path img = dir.resolve("r.qcow2");
    Map<String, String> create = new HashMap<>();
    create.put("cluster_size", Integer.toString(clusterSize));
    create.put("refcount_bits", Integer.toString(refcountBits));
    create.put("compat", compat);
    int step = 0;
    try (Qcow2Image image = Qcow2Image.create(img, size, create, openOptions(strategy))) {
      for (step = 0; step < OPS; step++) {
        int off = random.nextInt(size);
        int maxLen = random.nextInt(10) == 0 ? 4 * clusterSize + 1 : clusterSize + 100;
        int len = Math.min(size - off, 1 + random.nextInt(maxLen));
        int op = random.nextInt(10);
        if (op < 7) {
          byte[] data = new byte[len];
          if (random.nextBoolean()) {
            random.nextBytes(data);
          } else {
            Arrays.fill(data, (byte) random.nextInt(256));
          }
          image.write(off, data, 0, len);
          System.arraycopy(data, 0, model, off, len);
        } else if (op < 9) {
          image.writeZeroes(off, len);
          Arrays.fill(model, off, off + len, (byte) 0);
        } else {
          image.discard(off, len);
          discardInModel(model, off, len, clusterSize);
        }
        byte[] back = new byte[len];
        image.read(off, back, 0, len);
        assertArrayEquals(Arrays.copyOfRange(model, off, off + len), back, message(seed, step));
        if (step % 250 == 0) {
          MetadataInvariants.verify(image);
        }
        if (step % 500 == 0) {
          byte[] all = new byte[size];
          image.read(0, all, 0, size);
          assertArrayEquals(model, all, message(seed, step));
        }
      }
      MetadataInvariants.verify(image);
    } catch (AssertionError | Exception e) {
      throw new AssertionError(message(seed, step) + ": " + e, e);
    }
    QemuTools.checkClean(img);
    assertArrayEquals(model, QemuTools.readRaw(img), message(seed, OPS));
  }

  /** Over a qemu-made backing file, with occasional growth beyond the backing file's size. */
  @ParameterizedTest(name = "cluster_size={0} over backing, compat={1}")
  @CsvSource({"512, 1.1", "65536, 1.1", "4096, 0.10"})
  void randomOperationsOverBackingFileMatchModel(int clusterSize, String compat) throws Exception {
    QemuTools.assumeAvailable();
    long seed = SEED ^ 0x5eed ^ clusterSize;
    Random random = new Random(seed);
    Path base = dir.resolve("base.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", base.toString(), "1M");
    QemuTools.ioMerged(base, "write -P 0x5a 0 1M");
    byte[] model = new byte[1 << 20];
    Arrays.fill(model, (byte) 0x5a);
    Path img = dir.resolve("over.qcow2");
    Map<String, String> create = new HashMap<>();
    create.put("cluster_size", Integer.toString(clusterSize));
    create.put("compat", compat);
    create.put("backing_file", "base.qcow2");
    create.put("backing_fmt", "qcow2");
    int step = 0;
    int ops = OPS / 2;
    try (Qcow2Image image = Qcow2Image.create(img, -1, create, TestOptions.open())) {
      for (step = 0; step < ops; step++) {
        int size = model.length;
        if (random.nextInt(200) == 0 && size < (6 << 20)) {
          int grown = size + 512 * (1 + random.nextInt(2048));
          image.resize(grown);
          model = Arrays.copyOf(model, grown);
          continue;
        }
        int off = random.nextInt(size);
        int len = Math.min(size - off, 1 + random.nextInt(random.nextInt(10) == 0 ? 4 * clusterSize : clusterSize + 100));
        int op = random.nextInt(10);
        if (op < 7) {
          byte[] data = new byte[len];
          random.nextBytes(data);
          image.write(off, data, 0, len);
          System.arraycopy(data, 0, model, off, len);
        } else if (op < 9 || compat.equals("0.10")) {
          image.writeZeroes(off, len);
          Arrays.fill(model, off, off + len, (byte) 0);
        } else {
          image.discard(off, len);
          discardInModel(model, off, len, clusterSize);
        }
        byte[] back = new byte[len];
        image.read(off, back, 0, len);
        assertArrayEquals(Arrays.copyOfRange(model, off, off + len), back, message(seed, step));
        if (step % 500 == 0) {
          MetadataInvariants.verify(image);
          byte[] all = new byte[model.length];
          image.read(0, all, 0, all.length);
          assertArrayEquals(model, all, message(seed, step));
        }
      }
    } catch (AssertionError | Exception e) {
      throw new AssertionError(message(seed, step) + ": " + e, e);
    }
    QemuTools.checkClean(img);
    assertArrayEquals(model, QemuTools.readRaw(img), message(seed, ops));
  }

  private static String message(long seed, int step) {
    return "seed " + seed + " (base -Dqcow2.random.seed=" + SEED + "), step " + step;
  }

  /**
   * What a discard does to the guest view: the whole clusters inside the range read as zeros (a
   * range ending at the end of the image covers its last, partial cluster); partial clusters keep
   * their data.
   */
  private static void discardInModel(byte[] model, int off, int len, int clusterSize) {
    long first = ((long) off + clusterSize - 1) / clusterSize * clusterSize;
    long end = off + len == model.length ? model.length : (long) (off + len) / clusterSize * clusterSize;
    if (end > first) {
      Arrays.fill(model, (int) first, (int) end, (byte) 0);
    }
  }
}
