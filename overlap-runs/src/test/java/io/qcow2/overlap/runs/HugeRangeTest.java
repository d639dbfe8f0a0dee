package io.qcow2.overlap.runs;

import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.OverlapChecker;
import org.junit.jupiter.api.Test;

/**
 * Valid ranges as wide as the 2^56 byte space cost in proportion to the runs they change, not to the
 * clusters they cover (at 512-byte clusters the space has 2^47 clusters).
 */
class HugeRangeTest {
  private static final long ALL_CLUSTERS = OverlapChecker.MAX_HOST_OFFSET >>> 9;

  @Test
  void wholeSpaceEnterIsOneRun() {
    RunsOverlapChecker checker = Checkers.create(9, RunsOverlapCheckerProvider.BLOCK_RUNS);
    checker.enter(0, ALL_CLUSTERS, ACTIVE_L2.mask());
    checker.validate();
    assertEquals(1, checker.runCount());
    // A few hundred bytes beside the tail of appends, whose arrays have a fixed size.
    assertTrue(checker.memoryBytes() < 576 + Memory.TAIL, checker.toString());
    assertEquals(ACTIVE_L2.mask(), checker.check(0, 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(OverlapChecker.MAX_HOST_OFFSET - 1, 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));

    checker.remove(1L << 40, 3, ACTIVE_L2.mask());
    checker.validate();
    assertEquals(2, checker.runCount());
    assertEquals(0, checker.check(1L << 40, 3 << 9, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check((1L << 40) - 1, 1, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check((1L << 40) + (3 << 9), 1, 0));

    checker.remove(0, ALL_CLUSTERS, ACTIVE_L2.mask());
    checker.validate();
    assertEquals(0, checker.runCount());
    assertEquals(0, checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
  }

  @Test
  void wholeSpaceEnterOverManyRunsSplitsEachOnce() {
    RunsOverlapChecker checker = Checkers.create(9, RunsOverlapCheckerProvider.BLOCK_RUNS);
    int structures = 100_000;
    for (long i = 0; i < structures; i++) {
      checker.enter((i * 65 + 1) << 9, 1, i % 5 == 4 ? REFCOUNT_BLOCK.mask() : ACTIVE_L2.mask());
    }
    assertEquals(structures, checker.runCount());
    checker.enter(0, ALL_CLUSTERS, INACTIVE_L2.mask());
    checker.validate();
    // Each old run now carries its types plus INACTIVE_L2, with INACTIVE_L2 alone in every gap.
    assertEquals(2L * structures + 1, checker.runCount());
    assertEquals(ACTIVE_L2.mask() | INACTIVE_L2.mask(), checker.check(1 << 9, 1, 0));
    assertEquals(INACTIVE_L2.mask(), checker.check(2 << 9, 1, 0));
    assertEquals(ACTIVE_L2.mask() | REFCOUNT_BLOCK.mask(),
        checker.check(0, OverlapChecker.MAX_HOST_OFFSET, INACTIVE_L2.mask()));

    checker.remove(0, ALL_CLUSTERS, INACTIVE_L2.mask());
    checker.validate();
    assertEquals(structures, checker.runCount());
    assertEquals(0, checker.check(2 << 9, 64 << 9, 0));
    assertEquals(ACTIVE_L2.mask(), checker.check(66 << 9, 1, 0));
  }
}
