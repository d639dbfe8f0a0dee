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

  static java.util.stream.Stream<String> strategies() {
    return TestOptions.strategies().stream();
  }

  @ParameterizedTest(name = "strategy={0}")
  @org.junit.jupiter.params.provider.MethodSource("strategies")
  void randomOperationsWithEachStrategy(String strategy) throws Exception {
    run(512, 16, "1.1", strategy);
  }

  private void run(int clusterSize, int refcountBits, String compat, String strategy) throws Exception {
    QemuTool.requireQemu();
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
    try (Qcow2Image image = Qcow2Image.create(img, size, create, TestOptions.open(strategy))) {
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
          long first = ((long) off + clusterSize - 1) / clusterSize * clusterSize;
          long end = off + len == size ? size : (long) (off + len) / clusterSize * clusterSize;
          if (end > first) {
            Arrays.fill(model, (int) first, (int) end, (byte) 0);
          }
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
    QemuTool.checkClean(img);
    assertArrayEquals(model, QemuTool.toRaw(img), message(seed, OPS));
  }

  private static String message(long seed, int step) {
    return "seed " + seed + " (base -Dqcow2.random.seed=" + SEED + "), step " + step;
  }
}
