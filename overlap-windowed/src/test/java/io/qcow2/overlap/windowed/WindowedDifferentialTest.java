package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.tck.ReferenceModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Randomised differential test: the windowed checker against the TCK's {@link ReferenceModel}
 * (driven directly, with workloads aimed at windows: hot spots, window-crossing runs, the
 * dense/hash boundary, the top of the 2^56 space, whole-space checks) for window
 * sizes {8, 64, 4096, 65536} and cache budgets {one window, default}. The system property {@code
 * overlap.tck.operations} (default 125 000; the TCK's property, operations per run) is the operation
 * count of each of the eight configurations: 10^6 in total by default. Bursts of modifications
 * inside one cache block make blocks load, evict and idle out at every window size. After every
 * step the checker validates the window it used, its spans and its cache's links ({@code
 * validateAround}); every {@code overlap.windowed.validate-every} steps (default 1024) and at the
 * end, everything. Seeds are fixed; a disagreement fails with the seed, the step and the last
 * operations, which are also written to {@code target/windowed-differential-failure.txt}.
 */
class WindowedDifferentialTest {
  private static final long SEED = 0x5EED_2014_1124L;
  private static final int HISTORY = 32;

  static Stream<Arguments> configurations() {
    List<Arguments> configurations = new ArrayList<>();
    for (int windowSize : new int[] {8, 64, 4096, 65536}) {
      configurations.add(Arguments.of(windowSize, WindowedOverlapChecker.bitmapBytes(windowSize)));
      configurations.add(Arguments.of(windowSize, -1L));
    }
    return configurations.stream();
  }

  static long operationsPerConfiguration() {
    return Long.getLong("overlap.tck.operations", 125_000);
  }

  @ParameterizedTest(name = "W={0}, cache={1} (-1: default)")
  @MethodSource("configurations")
  void agreesWithReferenceModel(int windowSize, long cacheBytes) throws IOException {
    long seed = SEED ^ (windowSize * 31L + cacheBytes);
    SplittableRandom random = new SplittableRandom(seed);
    int clusterBits = cacheBytes < 0 ? 16 : 9;
    int enabled = random.nextBoolean() ? MetadataType.ALL_MASK : OverlapCheckMode.CACHED.mask();
    Map<String, String> options = cacheBytes < 0
        ? Map.of(OverlapCheckerSetup.WINDOW_SIZE, Integer.toString(windowSize))
        : Map.of(OverlapCheckerSetup.WINDOW_SIZE, Integer.toString(windowSize),
            OverlapCheckerSetup.CACHE_SIZE, Long.toString(cacheBytes));
    OverlapCheckerSetup setup = new OverlapCheckerSetup(clusterBits, enabled, MetadataView.EMPTY, options);
    WindowedOverlapChecker checker =
        (WindowedOverlapChecker) new WindowedOverlapCheckerProvider().create(setup);
    ReferenceModel model = new ReferenceModel(setup);

    long maxCluster = OverlapChecker.MAX_HOST_OFFSET >>> clusterBits;
    long span = Math.max(4L * windowSize, 4096);
    // Regions: near 0 (dense slots), around the dense/hash boundary, and the top of the range.
    long[] regions = {0, WindowTable.DENSE_WINDOWS * windowSize - span / 2, maxCluster - span};
    long hot = 0;
    int blockSize = WindowedOverlapChecker.blockSize(windowSize);
    // Bursts: runs of operations, mostly modifications, inside one cache block, so that blocks
    // are loaded, modified, evicted and freed at every window size.
    int burstLeft = 0;
    long burstBlock = 0;
    String[] history = new String[HISTORY];
    long operations = operationsPerConfiguration();
    long validateEvery = Long.getLong("overlap.windowed.validate-every", 1024);
    for (long step = 0; step < operations; step++) {
      int dice = random.nextInt(1000);
      if (burstLeft > 0) {
        burstLeft--;
        hot = burstBlock + random.nextInt(blockSize);
      } else if (dice < 4) {
        burstLeft = BitmapCache.BURST + random.nextInt(4 * BitmapCache.BURST);
        burstBlock = hot / blockSize * blockSize;
      } else if (dice < 20) {
        hot = regions[random.nextInt(dice < 6 ? regions.length : 1)] + random.nextLong(span);
      } else {
        hot = Math.floorMod(hot + random.nextInt(-64, 65), span) + (hot / span) * span;
      }
      hot = Math.min(hot, maxCluster - 1);
      long count = random.nextInt(100) < 2
          ? 1 + random.nextLong(2L * windowSize + 2)
          : 1 + random.nextInt(4);
      if (burstLeft > 0) {
        count = Math.min(count, burstBlock + blockSize - hot);
      }
      count = Math.min(count, maxCluster - hot);
      int types = 1 + random.nextInt(MetadataType.ALL_MASK);
      if (random.nextInt(4) == 0) {
        types = 1 << random.nextInt(MetadataType.values().length);
      }
      long offset = hot << clusterBits;
      String op;
      int kind = random.nextInt(10);
      if (burstLeft > 0 && kind >= 5 && random.nextBoolean()) {
        kind -= 5;
      }
      if (random.nextInt(5000) == 0) {
        // Rare checks from anywhere up to the end of the 2^56 space (whole-space removes are in
        // SparseImageTest: the reference model removes cluster by cluster).
        offset = random.nextInt(2) == 0 ? 0 : offset;
        count = maxCluster - (offset >>> clusterBits);
        kind = 9;
      }
      if (kind < 3) {
        op = String.format("enter(0x%x, %d, 0x%x)", offset, count, types);
        checker.enter(offset, count, types);
        model.enter(offset, count, types);
      } else if (kind < 5) {
        op = String.format("remove(0x%x, %d, 0x%x)", offset, count, types);
        checker.remove(offset, count, types);
        model.remove(offset, count, types);
      } else {
        // Byte ranges, not cluster-aligned, to exercise rounding out.
        long byteOffset = offset + random.nextInt(1 << clusterBits);
        long length = Math.min(random.nextLong(count << clusterBits) + 1,
            OverlapChecker.MAX_HOST_OFFSET - byteOffset);
        int ignored = random.nextInt(8) == 0 ? random.nextInt(MetadataType.ALL_MASK + 1) : 0;
        op = String.format("check(0x%x, %d, 0x%x)", byteOffset, length, ignored);
        int actual = checker.check(byteOffset, length, ignored);
        int expected = model.check(byteOffset, length, ignored);
        if (actual != expected) {
          history[(int) (step % HISTORY)] = op;
          fail(report(seed, step, history, String.format("%s: windowed 0x%x, model 0x%x", op, actual, expected)));
        }
      }
      history[(int) (step % HISTORY)] = op;
      try {
        // Every step: the window just used, the spans and the cache's links; everything at times.
        checker.validateAround(offset);
        if (step % validateEvery == 0) {
          checker.validate();
        }
      } catch (IllegalStateException e) {
        fail(report(seed, step, history, "validate: " + e.getMessage()), e);
      }
    }
    checker.validate();
    Map<String, Long> stats = checker.stats();
    assertEquals(model.stats().get(OverlapChecker.STAT_QUERIES), stats.get(OverlapChecker.STAT_QUERIES));
    System.out.printf("windowed differential W=%d cache=%d: %d operations, %s, %d bytes%n",
        windowSize, cacheBytes, operations, stats, checker.memoryBytes());
  }

  private static String report(long seed, long step, String[] history, String what) throws IOException {
    StringBuilder text = new StringBuilder(String.format(
        "disagreement at step %d (seed 0x%x): %s%nlast operations, oldest first:%n", step, seed, what));
    for (long s = Math.max(0, step - HISTORY + 1); s <= step; s++) {
      text.append("  ").append(history[(int) (s % HISTORY)]).append('\n');
    }
    Path dump = Path.of("target", "windowed-differential-failure.txt");
    Files.createDirectories(dump.getParent());
    Files.writeString(dump, text);
    return text.toString();
  }
}
