package io.qcow2.overlap.windowed;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;

/** Builds windowed checkers for tests. */
final class Checkers {
  private Checkers() {}

  static OverlapCheckerSetup setup(int clusterBits, int windowSize, long cacheBytes) {
    return new OverlapCheckerSetup(clusterBits, MetadataType.ALL_MASK, MetadataView.EMPTY, Map.of(
        OverlapCheckerSetup.WINDOW_SIZE, Integer.toString(windowSize),
        OverlapCheckerSetup.CACHE_SIZE, Long.toString(cacheBytes)));
  }

  static WindowedOverlapChecker create(int clusterBits, int windowSize, long cacheBytes) {
    return (WindowedOverlapChecker)
        new WindowedOverlapCheckerProvider().create(setup(clusterBits, windowSize, cacheBytes));
  }

  /** A checker with 512-byte clusters whose cache holds exactly one line. */
  static WindowedOverlapChecker oneLine(int windowSize) {
    return create(9, windowSize, WindowedOverlapChecker.bitmapBytes(windowSize));
  }

  /**
   * Enters {@code types} at {@code offset} (one cluster) as a burst: {@link BitmapCache#BURST}
   * times, so that the block holding it is cached afterwards (the first enter reaches the fragment
   * list, the others are no-ops on the map).
   */
  static void burst(WindowedOverlapChecker checker, long offset, int types) {
    for (int i = 0; i < BitmapCache.BURST; i++) {
      checker.enter(offset, 1, types);
    }
  }

  /**
   * Frees every cached line by making them idle: {@link BitmapCache#IDLE} + 1 modifications, each
   * in a different far window (so none of them is a burst), each a no-op remove.
   */
  static void idle(WindowedOverlapChecker checker) {
    long far = 1L << 40;
    for (int i = 0; i <= BitmapCache.IDLE; i++) {
      checker.enter(far + ((long) (i % 2) * checker.windowSize() << checker.clusterBits()), 1,
          io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE.mask());
    }
  }
}
