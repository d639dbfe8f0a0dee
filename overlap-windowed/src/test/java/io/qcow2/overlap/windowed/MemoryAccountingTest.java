package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.openjdk.jol.info.GraphLayout;

/** memoryBytes() agrees with JOL's measurement of the live object graph within 10%. */
class MemoryAccountingTest {
  private static final double TOLERANCE = 0.10;

  @ParameterizedTest(name = "W={0}, cache={1}")
  @CsvSource({"8, 16", "8, 65536", "64, 65536", "4096, 8192", "4096, 65536", "65536, 131072"})
  void agreesWithJol(int windowSize, long cacheBytes) {
    WindowedOverlapChecker checker = Checkers.create(16, windowSize, cacheBytes);
    assertAgrees(checker, "empty");

    checker.enter(0, 1, MetadataType.MAIN_HEADER.mask());
    checker.enter(3L << 16, 2, MetadataType.REFCOUNT_TABLE.mask());
    assertAgrees(checker, "small");

    // Large: L2 tables and refcount blocks interleaved with data over many windows.
    SplittableRandom random = new SplittableRandom(windowSize);
    for (long cluster = 16; cluster < 2_000_000; cluster += 1 + random.nextInt(4000)) {
      checker.enter(cluster << 16, 1 + random.nextInt(3),
          random.nextBoolean() ? MetadataType.ACTIVE_L2.mask() : MetadataType.REFCOUNT_BLOCK.mask());
    }
    assertAgrees(checker, "large");

    // After evictions: query everything again, then remove some and touch far windows.
    checker.check(0, 2_000_000L << 16, 0);
    for (long cluster = 16; cluster < 2_000_000; cluster += 50_000) {
      checker.remove(cluster << 16, 10_000, MetadataType.ACTIVE_L2.mask());
    }
    checker.enter(1L << 50, 1, MetadataType.INACTIVE_L2.mask());
    assertTrue(checker.stats().get(WindowedOverlapChecker.STAT_BITMAPS_DROPPED) > 0 || checker.cacheCapacity() > 100);
    assertAgrees(checker, "after evictions");
    checker.validate();
  }

  static void assertAgrees(WindowedOverlapChecker checker, String state) {
    long accounted = checker.memoryBytes();
    long measured = GraphLayout.parseInstance(checker).totalSize();
    double error = Math.abs(accounted - measured) / (double) measured;
    System.out.printf("memory %-16s W=%-5d memoryBytes %9d, JOL %9d (%+.2f%%)%n", state,
        checker.windowSize(), accounted, measured, 100.0 * (accounted - measured) / measured);
    assertTrue(error <= TOLERANCE, String.format(
        "%s: memoryBytes() %d, JOL %d: off by %.1f%%", state, accounted, measured, 100 * error));
  }
}
