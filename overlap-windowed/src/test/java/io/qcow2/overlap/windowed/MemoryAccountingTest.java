package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.openjdk.jol.info.GraphLayout;

/**
 * memoryBytes() equals JOL's measurement of the live object graph, byte for byte, in every state:
 * empty, small, large, with spans, with cache lines (one, several, evicting), after the lines are
 * freed.
 */
class MemoryAccountingTest {
  @ParameterizedTest(name = "W={0}, cache={1}")
  @CsvSource({"8, 16", "8, 65536", "64, 65536", "4096, 8192", "4096, 65536", "65536, 8192",
      "65536, 65536"})
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

    checker.enter(1L << 40, 3L * windowSize, MetadataType.INACTIVE_L2.mask());
    assertTrue(checker.spanCount() > 0);
    assertAgrees(checker, "spans");

    // Bursts in ten blocks, each a few clusters apart: the cache fills and evicts.
    for (int block = 0; block < 10; block++) {
      long offset = (long) block * WindowedOverlapChecker.blockSize(windowSize) << 16;
      Checkers.burst(checker, offset, MetadataType.INACTIVE_L1.mask());
      checker.enter(offset + (1L << 16), 1, MetadataType.INACTIVE_L1.mask());
      if (block == 0) {
        assertEquals(1, checker.cachedLines());
        assertAgrees(checker, "one line");
      }
    }
    // Lines of older bursts idle out: at most IDLE / BURST bursts keep theirs.
    assertTrue(checker.cachedLines() >= 1 && checker.cachedLines() <= checker.cacheCapacity());
    assertAgrees(checker, "lines");
    checker.check(0, 2_000_000L << 16, 0);
    for (long cluster = 16; cluster < 2_000_000; cluster += 50_000) {
      checker.remove(cluster << 16, 10_000, MetadataType.ACTIVE_L2.mask());
    }
    assertAgrees(checker, "after removes");
    Checkers.idle(checker);
    assertEquals(0, checker.cachedLines());
    assertAgrees(checker, "lines freed");
    checker.validate();
  }

  static void assertAgrees(WindowedOverlapChecker checker, String state) {
    long accounted = checker.memoryBytes();
    long measured = GraphLayout.parseInstance(checker).totalSize();
    System.out.printf("memory %-16s W=%-5d memoryBytes %9d, JOL %9d%n", state, checker.windowSize(),
        accounted, measured);
    assertEquals(measured, accounted, state + ": memoryBytes() against JOL");
  }
}
