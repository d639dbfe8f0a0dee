package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapCheckOptions;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.util.Map;

/**
 * The differential check of issue 7: an open image's own, event-tracked checker must answer
 * exactly as the {@code legacy} strategy, which scans the same live image (and reads every
 * snapshot's L1 table from disk) on each check. A missing enter or remove shows up as a cluster on
 * which the two disagree.
 */
public final class OverlapAgreement {
  private OverlapAgreement() {}

  /**
   * Asks both checkers about every cluster of the file (and two past its end); fails on the first
   * cluster where they differ, naming {@code context} and both answers.
   */
  public static void assertAgree(Qcow2Image image, String context) throws IOException {
    OverlapChecker tracked = image.overlapChecker()
        .orElseThrow(() -> new AssertionError("image has no overlap checker (mode none?)"));
    OverlapChecker legacy = legacy(image);
    int bits = tracked.clusterBits();
    long clusterSize = 1L << bits;
    long clusters = ((image.fileSize() + clusterSize - 1) >>> bits) + 2;
    for (long c = 0; c < clusters; c++) {
      int a = tracked.check(c << bits, clusterSize, 0);
      int b = legacy.check(c << bits, clusterSize, 0);
      if (a != b) {
        fail(String.format("%s: strategy %s and legacy disagree at cluster %d (offset 0x%x): %s vs %s",
            context, image.overlapStrategy(), c, c << bits, MetadataType.describe(a),
            MetadataType.describe(b)));
      }
    }
  }

  /** A legacy checker with every type enabled, over the image's live metadata. */
  public static OverlapChecker legacy(Qcow2Image image) {
    Map<String, String> options = Map.of(OverlapCheckers.STRATEGY_OPTION, "legacy",
        OverlapCheckOptions.OVERLAP_CHECK, "all");
    return OverlapCheckers.create(options, image.header().clusterBits, image.metadataView())
        .orElseThrow();
  }
}
