package io.qcow2.overlap.windowed;

import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.ReferenceModel;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 12: checks answer from the fragment lists and never touch the cache; the cache is filled
 * only by bursts of modifications, up to its budget, and shrinks back when they stop. Clusters are
 * 512 bytes; the layout is a metadata-preallocated image (an L2 table, then the 64 data clusters
 * it maps; a refcount block every 256 clusters).
 */
class CacheBehaviourTest {
  private static final int CLUSTER_BITS = 9;
  private static final long SEED = 0x12_2026_1130L;

  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {64, 4096, 65536})
  void checksNeverTouchTheCache(int windowSize) {
    WindowedOverlapChecker checker = Checkers.create(CLUSTER_BITS, windowSize, 65536);
    ReferenceModel model = new ReferenceModel(setup(windowSize));
    long clusters = preallocate(checker, model, 1 << 20);
    // Cache two blocks by a burst each: the rest of the image stays uncached.
    Checkers.burst(checker, 0, MetadataType.MAIN_HEADER.mask());
    model.enter(0, 1, MetadataType.MAIN_HEADER.mask());
    long far = clusters / 2 << CLUSTER_BITS;
    Checkers.burst(checker, far, ACTIVE_L2.mask());
    model.enter(far, 1, ACTIVE_L2.mask());
    assertEquals(2, checker.cachedLines());
    Map<String, Long> before = checker.stats();
    long memory = checker.memoryBytes();

    SplittableRandom random = new SplittableRandom(SEED);
    for (int i = 0; i < 100_000; i++) {
      long offset = random.nextLong(clusters << CLUSTER_BITS);
      long length = random.nextInt(8) == 0 ? 1 + random.nextLong(1L << 22) : 1 + random.nextInt(4096);
      int ignored = random.nextInt(4) == 0 ? ACTIVE_L2.mask() : 0;
      assertEquals(model.check(offset, length, ignored), checker.check(offset, length, ignored),
          String.format("check(0x%x, %d, 0x%x), seed 0x%x", offset, length, ignored, SEED));
    }
    Map<String, Long> after = checker.stats();
    for (String key : new String[] {WindowedOverlapChecker.STAT_LIST_TO_BITMAP,
        WindowedOverlapChecker.STAT_BITMAP_TO_LIST, WindowedOverlapChecker.STAT_BITMAPS_DROPPED}) {
      assertEquals(before.get(key), after.get(key), key + " changed by checks");
    }
    assertEquals(2, checker.cachedLines());
    assertEquals(memory, checker.memoryBytes());
    checker.validate();
  }

  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {4096, 65536})
  void openingAPreallocatedImageLeavesTheCacheEmpty(int windowSize) {
    WindowedOverlapChecker checker = Checkers.create(CLUSTER_BITS, windowSize, 65536);
    long emptyCache = checker.memoryBytes();
    // As the engine opens an image: every L2 table in L1 order, then every refcount block.
    long clusters = 1 << 20;
    for (long cluster = 1; cluster < clusters; cluster += 65) {
      checker.enter(cluster << CLUSTER_BITS, 1, ACTIVE_L2.mask());
    }
    for (long cluster = 256; cluster < clusters; cluster += 256) {
      checker.enter(cluster << CLUSTER_BITS, 1, REFCOUNT_BLOCK.mask());
    }
    assertEquals(0, checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP),
        "L2 tables in file order are appends, which never load a block; refcount blocks, 16 per "
            + "block, are no burst");
    assertEquals(0, checker.cachedLines());
    checker.validate();
    assertTrue(emptyCache > 0);
  }

  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 4096, 65536})
  void cacheGrowsWithBurstsUpToItsBudgetAndShrinksBack(int windowSize) {
    long lineBytes = WindowedOverlapChecker.bitmapBytes(windowSize);
    WindowedOverlapChecker checker = Checkers.create(CLUSTER_BITS, windowSize, 3 * lineBytes);
    int blockSize = WindowedOverlapChecker.blockSize(windowSize);
    for (int block = 0; block < 5; block++) {
      checker.enter((long) block * blockSize << CLUSTER_BITS, 1, ACTIVE_L2.mask());
    }
    Checkers.idle(checker);
    long atRest = checker.memoryBytes();
    assertEquals(0, checker.cachedLines());
    for (int block = 0; block < 5; block++) {
      Checkers.burst(checker, (long) block * blockSize << CLUSTER_BITS, ACTIVE_L2.mask());
      assertEquals(Math.min(block + 1, 3), checker.cachedLines());
    }
    assertTrue(checker.memoryBytes() >= atRest + 3 * lineBytes, "three maps held");
    Checkers.idle(checker);
    assertEquals(0, checker.cachedLines());
    assertEquals(atRest, checker.memoryBytes(), "maps and line arrays released");
    checker.validate();
  }

  /** Enters the preallocated layout into both; returns its size in clusters. */
  private static long preallocate(WindowedOverlapChecker checker, ReferenceModel model, long clusters) {
    for (long cluster = 1; cluster < clusters; cluster += 65) {
      checker.enter(cluster << CLUSTER_BITS, 1, ACTIVE_L2.mask());
      model.enter(cluster << CLUSTER_BITS, 1, ACTIVE_L2.mask());
    }
    for (long cluster = 256; cluster < clusters; cluster += 256) {
      checker.enter(cluster << CLUSTER_BITS, 1, REFCOUNT_BLOCK.mask());
      model.enter(cluster << CLUSTER_BITS, 1, REFCOUNT_BLOCK.mask());
    }
    Checkers.idle(checker);
    assertEquals(0, checker.cachedLines());
    return clusters;
  }

  private static OverlapCheckerSetup setup(int windowSize) {
    return new OverlapCheckerSetup(CLUSTER_BITS, MetadataType.ALL_MASK, MetadataView.EMPTY,
        Map.of(OverlapCheckerSetup.WINDOW_SIZE, Integer.toString(windowSize)));
  }
}
