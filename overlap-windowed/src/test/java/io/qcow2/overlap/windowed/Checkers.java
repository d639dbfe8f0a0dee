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

  /** A checker with 512-byte clusters whose cache holds exactly one window. */
  static WindowedOverlapChecker oneLine(int windowSize) {
    return create(9, windowSize, WindowedOverlapChecker.bitmapBytes(windowSize));
  }
}
