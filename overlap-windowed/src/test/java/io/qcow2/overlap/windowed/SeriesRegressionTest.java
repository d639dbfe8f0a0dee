package io.qcow2.overlap.windowed;

import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.BITMAP_DIRECTORY;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.overlap.MetadataType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One test per review finding on the series' patch 1 (qcow2-overlap-series-v2.txt); each fails on
 * the series' behaviour. Clusters are 512 bytes; caches hold one window unless stated, so touching
 * another window evicts and rebuilds.
 */
class SeriesRegressionTest {
  private static final long CLUSTER = 512;

  /** Max Reitz, 2014-11-25: a new run restarted its count at 0, dropping its first cluster. */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 64, 4096, 65536})
  void adjacentRunsOfDifferentTypesSurviveEvictionExactly(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    int[] types = {ACTIVE_L2.mask(), REFCOUNT_BLOCK.mask(), ACTIVE_L2.mask() | INACTIVE_L2.mask(),
        BITMAP_DIRECTORY.mask()};
    // Runs of 2, 1, 3 and 2 clusters back to back from cluster 1.
    int[] lengths = {2, 1, 3, 2};
    long cluster = 1;
    for (int i = 0; i < types.length; i++) {
      checker.enter(cluster * CLUSTER, lengths[i], types[i]);
      cluster += lengths[i];
    }
    evict(checker, windowSize);
    checker.validate();
    assertEquals(0, checker.check(0, CLUSTER, 0));
    cluster = 1;
    for (int i = 0; i < types.length; i++) {
      for (int c = 0; c < lengths[i]; c++, cluster++) {
        assertEquals(types[i], checker.check(cluster * CLUSTER, 1, 0), "cluster " + cluster);
      }
    }
    assertEquals(0, checker.check(cluster * CLUSTER, CLUSTER, 0));
    assertEquals(4, checker.fragmentsOfWindow(0).length);
  }

  /**
   * Eric Blake: a uint8_t length capped runs at 255 and wasted the value 0. Lengths are stored
   * minus one and take every bit the start does not need: a whole window of one type is one
   * fragment up to W = 2048, and runs of 2048 at W = 4096 (the series: 17 fragments of at most 255).
   */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 64, 2048, 4096, 65536})
  void runsAreAsLongAsTheEncodingAllows(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    checker.enter(0, windowSize, ACTIVE_L2.mask());
    evict(checker, windowSize);
    checker.validate();
    int maxRun = Math.min(windowSize, 1 << (23 - Integer.numberOfTrailingZeros(windowSize)));
    assertEquals(maxRun, checker.fragmentList().maxRun());
    int[] fragments = checker.fragmentsOfWindow(0);
    assertEquals(windowSize / maxRun, fragments.length);
    for (int fragment : fragments) {
      assertEquals(maxRun, checker.fragmentList().length(fragment));
    }
    if (windowSize >= 256) {
      assertEquals(true, maxRun >= 128, "at least as long as the series' 255 at every W");
    }
    assertEquals(ACTIVE_L2.mask(), checker.check(0, (long) windowSize * CLUSTER, 0));
  }

  /** The series had 8 type bits; QEMU's bitmap directory (bit 8) came later. All nine survive. */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 4096, 65536})
  void allNineTypeBitsSurviveEviction(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    checker.enter(3 * CLUSTER, 1, MetadataType.ALL_MASK);
    checker.enter(4 * CLUSTER, 1, BITMAP_DIRECTORY.mask());
    evict(checker, windowSize);
    checker.validate();
    assertEquals(MetadataType.ALL_MASK, checker.check(3 * CLUSTER, 1, 0));
    assertEquals(BITMAP_DIRECTORY.mask(), checker.check(4 * CLUSTER, CLUSTER, 0));
    checker.remove(3 * CLUSTER, 1, BITMAP_DIRECTORY.mask());
    evict(checker, windowSize);
    assertEquals(MetadataType.ALL_MASK & ~BITMAP_DIRECTORY.mask(), checker.check(3 * CLUSTER, 1, 0));
  }

  /**
   * check_metadata_overlap() looked up (and re-aged) the cache once per cluster and never stopped
   * early. Checks go window by window, and stop once every wanted type is found: a check over three
   * cold windows whose first already holds the wanted type expands only that one.
   */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 64, 4096})
  void multiWindowCheckWorksPerWindowAndStopsEarly(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    for (int window = 0; window < 3; window++) {
      checker.enter((long) window * windowSize * CLUSTER, 1, ACTIVE_L2.mask());
    }
    evict(checker, windowSize);
    long before = checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP);
    long length = 3L * windowSize * CLUSTER;
    assertEquals(ACTIVE_L2.mask(), checker.check(0, length, MetadataType.ALL_MASK & ~ACTIVE_L2.mask()));
    assertEquals(before + 1, checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP));
    // Not found anywhere: each window is expanded exactly once, not once per cluster.
    assertEquals(0, checker.check(0, length, ACTIVE_L2.mask()));
    assertEquals(before + 1 + 2, checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP));
    checker.validate();
  }

  /** Windows that never held metadata, or lost it all, are answered without expanding anything. */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 4096})
  void emptyWindowsCostNoConversion(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    checker.enter(CLUSTER, 1, ACTIVE_L2.mask());
    checker.remove(CLUSTER, 1, ACTIVE_L2.mask());
    evict(checker, windowSize);
    long before = checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP);
    assertEquals(0, checker.check(0, 1000L * windowSize * CLUSTER, 0));
    checker.remove(0, 1000L * windowSize, ACTIVE_L2.mask());
    assertEquals(before, checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP));
    assertArrayEquals(new int[0], checker.fragmentsOfWindow(0));
  }

  /**
   * The cache is LRU with O(1) eviction (an intrusive list; the series scanned every cached window
   * for the oldest age). An unmodified window is dropped without a write-back.
   */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 4096})
  void evictsLeastRecentlyUsedAndWritesBackOnlyModifiedWindows(int windowSize) {
    WindowedOverlapChecker checker =
        Checkers.create(9, windowSize, 2 * WindowedOverlapChecker.bitmapBytes(windowSize));
    assertEquals(2, checker.cacheCapacity());
    long windowBytes = (long) windowSize * CLUSTER;
    checker.enter(0, 1, ACTIVE_L2.mask());              // A: expand, dirty
    checker.enter(windowBytes, 1, ACTIVE_L2.mask());    // B: expand, dirty
    evict(checker, windowSize);                          // C, D: evict A and B, both written back
    assertStats(checker, 4, 2, 2);
    checker.check(0, 1, 0);                              // A: expand, clean (evicts C)
    checker.check(windowBytes, 1, 0);                    // B: expand, clean (evicts D)
    assertStats(checker, 6, 4, 4);
    checker.check(0, 1, 0);                              // A: hit, now most recent
    checker.check(1000 * windowBytes, 1, 0);             // C: evicts B (least recent), no write-back
    assertStats(checker, 7, 4, 5);
    checker.check(0, 1, 0);                              // A: still cached
    assertStats(checker, 7, 4, 5);
    checker.validate();
  }

  private static void assertStats(WindowedOverlapChecker checker, long expansions, long writeBacks,
      long dropped) {
    var stats = checker.stats();
    assertEquals(expansions, stats.get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP), "list-to-bitmap");
    assertEquals(writeBacks, stats.get(WindowedOverlapChecker.STAT_BITMAP_TO_LIST), "bitmap-to-list");
    assertEquals(dropped, stats.get(WindowedOverlapChecker.STAT_BITMAPS_DROPPED), "bitmaps-dropped");
  }

  /** Evicts every cached window by entering metadata into as many far windows as there are lines. */
  private static void evict(WindowedOverlapChecker checker, int windowSize) {
    for (int line = 0; line < checker.cacheCapacity(); line++) {
      checker.enter((1000L + line) * windowSize * CLUSTER, 1, REFCOUNT_BLOCK.mask());
    }
  }
}
