package io.qcow2.overlap.windowed;

import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.OverlapChecker;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 12: enter and remove of any valid range cost in proportion to the windows and runs they
 * create or change, not to the clusters covered. Whole windows become spans, so entering all of
 * 2^56 bytes at 512-byte clusters (2^47 clusters) is one span; the structure sizes below are the
 * proof (a loop over clusters or windows would also leave them large).
 */
class HugeRangeTest {
  private static final long FEW_MB = 4L << 20;

  @ParameterizedTest(name = "W={0}, clusterBits={1}")
  @CsvSource({"1, 9", "8, 9", "4096, 9", "65536, 9", "65536, 16", "65536, 21"})
  void wholeSpaceEnterIsOneSpan(int windowSize, int clusterBits) {
    WindowedOverlapChecker checker = Checkers.create(clusterBits, windowSize, 65536);
    long clusters = OverlapChecker.MAX_HOST_OFFSET >>> clusterBits;
    checker.enter(0, clusters, ACTIVE_L2.mask());
    assertEquals(1, checker.spanCount());
    assertEquals(0, checker.fragmentCount());
    assertTrue(checker.memoryBytes() < FEW_MB, "memory " + checker.memoryBytes());
    long last = OverlapChecker.MAX_HOST_OFFSET - 1;
    assertEquals(ACTIVE_L2.mask(), checker.check(0, 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(last, 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
    assertEquals(0, checker.check(0, OverlapChecker.MAX_HOST_OFFSET, ACTIVE_L2.mask()));
    checker.validate();

    // A hole of three clusters in the middle of a window: only that window gets fragments.
    long middle = (clusters / 2 + windowSize / 2) << clusterBits;
    checker.remove(middle, Math.min(3, windowSize), ACTIVE_L2.mask());
    assertEquals(0, checker.check(middle, 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(middle - (1L << clusterBits), 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(middle, windowSize + 4L << clusterBits, 0));
    assertTrue(checker.spanCount() <= 2, "spans " + checker.spanCount());
    assertTrue(checker.fragmentCount() <= 2L * Math.max(1, windowSize / checker.fragmentList().maxRun()),
        "fragments " + checker.fragmentCount());
    checker.validate();

    // Other types on top, then remove everything at once.
    checker.enter(1L << 40, 5, REFCOUNT_BLOCK.mask());
    checker.enter(0, clusters, INACTIVE_L2.mask());
    checker.remove(0, clusters, ACTIVE_L2.mask() | INACTIVE_L2.mask());
    assertEquals(REFCOUNT_BLOCK.mask(), checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
    checker.remove(0, clusters, REFCOUNT_BLOCK.mask());
    assertEquals(0, checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
    assertEquals(0, checker.spanCount());
    assertEquals(0, checker.fragmentCount());
    assertTrue(checker.memoryBytes() < FEW_MB, "memory " + checker.memoryBytes());
    checker.validate();
  }

  /** Unaligned huge ranges: whole windows in the middle, partial windows at both ends. */
  @ParameterizedTest(name = "W={0}")
  @CsvSource({"8", "4096", "65536"})
  void unalignedHugeRangesSplitIntoSpansAndTwoWindows(int windowSize) {
    WindowedOverlapChecker checker = Checkers.create(9, windowSize, 65536);
    long clusters = OverlapChecker.MAX_HOST_OFFSET >>> 9;
    long first = 3;
    checker.enter(first << 9, clusters - first - 5, ACTIVE_L2.mask());
    assertEquals(1, checker.spanCount());
    assertTrue(checker.fragmentCount() <= 2L * Math.max(1, windowSize / checker.fragmentList().maxRun()));
    assertEquals(0, checker.check(0, 3L << 9, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(3L << 9, 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(OverlapChecker.MAX_HOST_OFFSET - (6L << 9), 1, 0));
    assertEquals(0, checker.check(OverlapChecker.MAX_HOST_OFFSET - (5L << 9), 5L << 9, 0));
    checker.remove(5L << 9, clusters - 100, ACTIVE_L2.mask());
    assertEquals(ACTIVE_L2.mask(), checker.check(4L << 9, 1, 0));
    assertEquals(0, checker.check(5L << 9, (clusters - 100) << 9, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check((clusters - 95) << 9, 1, 0));
    assertTrue(checker.memoryBytes() < FEW_MB, "memory " + checker.memoryBytes());
    checker.validate();
  }
}
