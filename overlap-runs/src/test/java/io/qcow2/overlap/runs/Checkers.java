package io.qcow2.overlap.runs;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;

/** Builds runs checkers for tests. */
final class Checkers {
  private Checkers() {}

  static RunsOverlapChecker create(int clusterBits, int enabledMask, int blockRuns) {
    return new RunsOverlapChecker(
        new OverlapCheckerSetup(clusterBits, enabledMask, MetadataView.EMPTY, Map.of()), blockRuns);
  }

  static RunsOverlapChecker create(int clusterBits, int blockRuns) {
    return create(clusterBits, MetadataType.ALL_MASK, blockRuns);
  }
}
