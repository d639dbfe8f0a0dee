package io.qcow2.overlap.windowed;

import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.BITMAP_DIRECTORY;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One test per review finding on the series' patch 1 (qcow2-overlap-series-v2.txt); each fails on
 * the series' behaviour. Clusters are 512 bytes. A block is cached by a burst of enters ({@link
 * Checkers#burst}) and written back by letting it idle ({@link Checkers#idle}), so the findings
 * about the bitmap-to-list rebuild go through the cache.
 */
class SeriesRegressionTest {
  private static final long CLUSTER = 512;

  /** Max Reitz, 2014-11-25: a new run restarted its count at 0, dropping its first cluster. */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 64, 4096, 65536})
  void adjacentRunsOfDifferentTypesSurviveWriteBackExactly(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    int[] types = {ACTIVE_L2.mask(), REFCOUNT_BLOCK.mask(), ACTIVE_L2.mask() | INACTIVE_L2.mask(),
        BITMAP_DIRECTORY.mask()};
    // Runs of 2, 1, 3 and 2 clusters back to back from cluster 1, entered into the cached map.
    int[] lengths = {2, 1, 3, 2};
    Checkers.burst(checker, CLUSTER, types[0]);
    assertEquals(1, checker.cachedLines());
    long cluster = 1;
    for (int i = 0; i < types.length; i++) {
      checker.enter(cluster * CLUSTER, lengths[i], types[i]);
      cluster += lengths[i];
    }
    Checkers.idle(checker);
    assertEquals(0, checker.cachedLines());
    assertEquals(1, checker.stats().get(WindowedOverlapChecker.STAT_BITMAP_TO_LIST));
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
   * minus one and take every bit the start and the type bits do not need: with 11 type bits a
   * window of one type is one fragment up to W = 1024, and runs of 512 at W = 4096 (the series: 17
   * fragments of at most 255). Both ways a
   * list is written, a direct edit and a cache line's write-back, cut runs alike. A whole window
   * entered at once is a span, not fragments.
   */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 64, 2048, 4096, 65536})
  void runsAreAsLongAsTheEncodingAllows(int windowSize) {
    int maxRun = Math.min(windowSize,
        1 << (Integer.SIZE - FragmentList.TYPE_BITS - Integer.numberOfTrailingZeros(windowSize)));
    WindowedOverlapChecker direct = Checkers.oneLine(windowSize);
    direct.enter(0, windowSize - 1, ACTIVE_L2.mask());
    direct.enter((windowSize - 1) * CLUSTER, 1, ACTIVE_L2.mask());
    WindowedOverlapChecker cached = Checkers.oneLine(windowSize);
    Checkers.burst(cached, 0, ACTIVE_L2.mask());
    cached.enter(0, windowSize - 1, ACTIVE_L2.mask());    // into the cached first block and the list
    cached.enter((windowSize - 1) * CLUSTER, 1, ACTIVE_L2.mask());
    Checkers.idle(cached);
    assertEquals(1, cached.stats().get(WindowedOverlapChecker.STAT_BITMAP_TO_LIST));
    for (WindowedOverlapChecker checker : new WindowedOverlapChecker[] {direct, cached}) {
      checker.validate();
      assertEquals(maxRun, checker.fragmentList().maxRun());
      int[] fragments = checker.fragmentsOfWindow(0);
      assertEquals(windowSize / maxRun, fragments.length);
      for (int fragment : fragments) {
        assertEquals(maxRun, checker.fragmentList().length(fragment));
      }
      assertEquals(ACTIVE_L2.mask(), checker.check(0, (long) windowSize * CLUSTER, 0));
      assertEquals(0, checker.spanCount());
    }
    if (windowSize >= 256) {
      // With nine type bits runs were at least 128 at every W. Eleven (the bitmap tables and data)
      // leave 5 length bits at W = 65536: 32, below the series' 255 there, until the fragment
      // encoding is widened.
      assertTrue(maxRun >= 32, "at least 32 at every W");
    }
    WindowedOverlapChecker whole = Checkers.oneLine(windowSize);
    whole.enter(0, windowSize, ACTIVE_L2.mask());
    assertEquals(1, whole.spanCount());
    assertEquals(0, whole.fragmentsOfWindow(0).length);
  }

  /** The series had 8 type bits; QEMU's bitmap directory (bit 8) came later. All nine survive. */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 4096, 65536})
  void allNineTypeBitsSurviveWriteBack(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    Checkers.burst(checker, 3 * CLUSTER, MetadataType.ALL_MASK);
    checker.enter(4 * CLUSTER, 1, BITMAP_DIRECTORY.mask());
    Checkers.idle(checker);
    checker.validate();
    assertEquals(MetadataType.ALL_MASK, checker.check(3 * CLUSTER, 1, 0));
    assertEquals(BITMAP_DIRECTORY.mask(), checker.check(4 * CLUSTER, CLUSTER, 0));
    checker.remove(3 * CLUSTER, 1, BITMAP_DIRECTORY.mask());
    assertEquals(MetadataType.ALL_MASK & ~BITMAP_DIRECTORY.mask(), checker.check(3 * CLUSTER, 1, 0));
    assertEquals(1, checker.stats().get(WindowedOverlapChecker.STAT_BITMAP_TO_LIST));
  }

  /**
   * check_metadata_overlap() looked up (and re-aged) the cache once per cluster and expanded every
   * window it touched. Checks read the fragment lists (or a cached block's map) and expand nothing:
   * a check over three windows, with and without the wanted type, converts no list.
   */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 64, 4096})
  void multiWindowCheckExpandsNothing(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    for (int window = 0; window < 3; window++) {
      checker.enter((long) window * windowSize * CLUSTER, 1, ACTIVE_L2.mask());
    }
    long length = 3L * windowSize * CLUSTER;
    assertEquals(ACTIVE_L2.mask(), checker.check(0, length, MetadataType.ALL_MASK & ~ACTIVE_L2.mask()));
    assertEquals(0, checker.check(0, length, ACTIVE_L2.mask()));
    assertEquals(0, checker.check(CLUSTER, (windowSize - 1) * CLUSTER, 0));
    assertEquals(0, checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP));
    checker.validate();
  }

  /** Windows that never held metadata, or lost it all, are answered without expanding anything. */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 4096})
  void emptyWindowsCostNoConversion(int windowSize) {
    WindowedOverlapChecker checker = Checkers.oneLine(windowSize);
    checker.enter(CLUSTER, 1, ACTIVE_L2.mask());
    checker.remove(CLUSTER, 1, ACTIVE_L2.mask());
    assertEquals(0, checker.check(0, 1000L * windowSize * CLUSTER, 0));
    checker.remove(0, 1000L * windowSize, ACTIVE_L2.mask());
    assertEquals(0, checker.stats().get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP));
    assertArrayEquals(new int[0], checker.fragmentsOfWindow(0));
  }

  /**
   * The cache is LRU with O(1) eviction (an intrusive list; the series scanned every cached window
   * for the oldest age). An unmodified block is dropped without a write-back.
   */
  @ParameterizedTest(name = "W={0}")
  @ValueSource(ints = {8, 4096})
  void evictsLeastRecentlyUsedAndWritesBackOnlyModifiedBlocks(int windowSize) {
    WindowedOverlapChecker checker =
        Checkers.create(9, windowSize, 2 * WindowedOverlapChecker.bitmapBytes(windowSize));
    assertEquals(2, checker.cacheCapacity());
    long windowBytes = (long) windowSize * CLUSTER;
    long a = 0;
    long b = windowBytes;
    long c = 2 * windowBytes;
    long d = 3 * windowBytes;
    int l2 = ACTIVE_L2.mask();
    Checkers.burst(checker, a, l2);                     // A: expand (the 32nd enter), clean
    checker.enter(a + CLUSTER, 1, l2);                  // A: modified
    Checkers.burst(checker, b, l2);                     // B: expand, clean
    assertStats(checker, 2, 0, 0);
    Checkers.burst(checker, c, l2);                     // C: evicts A (least recent), written back
    assertStats(checker, 3, 1, 1);
    checker.enter(b, 1, l2);                            // B: hit (no-op), now most recent
    Checkers.burst(checker, d, l2);                     // D: evicts C, clean: no write-back
    assertStats(checker, 4, 1, 2);
    checker.validate();
    Checkers.idle(checker);                             // B and D freed, both clean
    assertStats(checker, 4, 1, 4);
    assertEquals(0, checker.cachedLines());
    assertEquals(l2, checker.check(a + CLUSTER, 1, 0));
    checker.validate();
  }

  private static void assertStats(WindowedOverlapChecker checker, long expansions, long writeBacks,
      long dropped) {
    var stats = checker.stats();
    assertEquals(expansions, stats.get(WindowedOverlapChecker.STAT_LIST_TO_BITMAP), "list-to-bitmap");
    assertEquals(writeBacks, stats.get(WindowedOverlapChecker.STAT_BITMAP_TO_LIST), "bitmap-to-list");
    assertEquals(dropped, stats.get(WindowedOverlapChecker.STAT_BITMAPS_DROPPED), "bitmaps-dropped");
  }
}
