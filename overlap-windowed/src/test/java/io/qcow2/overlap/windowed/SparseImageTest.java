package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Host offsets up to 2^56 work without memory proportional to the highest offset. */
class SparseImageTest {
  @ParameterizedTest(name = "W={0}, clusterBits={1}")
  @CsvSource({"8, 9", "4096, 9", "4096, 16", "65536, 21"})
  void hostileOffsetsCostOneWindow(int windowSize, int clusterBits) {
    WindowedOverlapChecker checker = Checkers.create(clusterBits, windowSize,
        Math.max(64 * 1024, WindowedOverlapChecker.bitmapBytes(windowSize)));
    long clusterSize = 1L << clusterBits;
    int l2 = MetadataType.ACTIVE_L2.mask();
    long[] offsets = {1L << 55, OverlapChecker.MAX_HOST_OFFSET - clusterSize, 1L << 40,
        WindowTable.DENSE_WINDOWS * windowSize * clusterSize};
    for (long offset : offsets) {
      checker.enter(offset, 1, l2);
    }
    for (long offset : offsets) {
      assertEquals(l2, checker.check(offset, 1, 0));
      assertEquals(l2, checker.check(offset - 1, 2, 0));
      if (offset + clusterSize < OverlapChecker.MAX_HOST_OFFSET) {
        assertEquals(0, checker.check(offset + clusterSize, clusterSize, 0));
      }
    }
    assertEquals(l2, checker.check(OverlapChecker.MAX_HOST_OFFSET - 1, 1, 0));
    checker.validate();
    // Four windows far apart: a few hash entries and cache lines, nothing proportional to 2^55.
    long limit = 64 * 1024 + 16 * WindowedOverlapChecker.bitmapBytes(windowSize);
    assertTrue(checker.memoryBytes() < limit, checker.memoryBytes() + " >= " + limit);
    for (long offset : offsets) {
      checker.remove(offset, 1, l2);
      assertEquals(0, checker.check(offset, 1, 0));
    }
    checker.validate();
  }

  /** A check or remove over the whole 2^56 space visits only the windows that have slots. */
  @ParameterizedTest(name = "W={0}, clusterBits={1}")
  @CsvSource({"1, 9", "8, 9", "4096, 16", "65536, 21"})
  @Timeout(10)
  void wholeSpaceRangesVisitOnlyPopulatedWindows(int windowSize, int clusterBits) {
    WindowedOverlapChecker checker = Checkers.create(clusterBits, windowSize,
        Math.max(64 * 1024, WindowedOverlapChecker.bitmapBytes(windowSize)));
    long clusterSize = 1L << clusterBits;
    long maxClusters = OverlapChecker.MAX_HOST_OFFSET >>> clusterBits;
    assertEquals(0, checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
    checker.enter(1L << 55, 1, MetadataType.ACTIVE_L2.mask());
    checker.enter(5 * clusterSize, 3, MetadataType.REFCOUNT_BLOCK.mask());
    assertEquals(MetadataType.ACTIVE_L2.mask() | MetadataType.REFCOUNT_BLOCK.mask(),
        checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
    assertEquals(MetadataType.ACTIVE_L2.mask(), checker.check(8 * clusterSize,
        OverlapChecker.MAX_HOST_OFFSET - 8 * clusterSize, 0));
    checker.remove(clusterSize, maxClusters - 1, MetadataType.ACTIVE_L2.mask());
    assertEquals(MetadataType.REFCOUNT_BLOCK.mask(), checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
    checker.remove(0, maxClusters, MetadataType.ALL_MASK);
    assertEquals(0, checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
    checker.validate();
  }
}
