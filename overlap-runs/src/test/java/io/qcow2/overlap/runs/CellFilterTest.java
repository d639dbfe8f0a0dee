package io.qcow2.overlap.runs;

import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * The cell filter in front of the blocks: what keeps it exact (an enter inside it sets its bits)
 * and what makes it stale (an enter outside it, as many removes as it holds runs), with {@code validate()} (which
 * checks that every run's cells are set) after each step.
 */
class CellFilterTest {
  private static final int CLUSTER_BITS = 9;
  private static final int TABLES = 1000;
  private static final long GAP = 65;

  @Test
  void enterInsideSetsCellsAndEnterOutsideRebuilds() {
    RunsOverlapChecker checker = preallocated();
    assertEquals(0, checker.check(offset(3), 1, 0));
    assertEquals(1, rebuilds(checker));
    checker.validate();

    // A new run in a gap the filter had clear is seen at once, without a rebuild.
    long inside = 500 * GAP + 20;
    checker.enter(offset(inside), 1, REFCOUNT_BLOCK.mask());
    checker.validate();
    assertEquals(REFCOUNT_BLOCK.mask(), checker.check(offset(inside), 1, 0));
    assertEquals(0, checker.check(offset(inside + 1), 1, 0));
    assertEquals(1, rebuilds(checker));

    // Past the covered clusters: stale, answered by the tail of appends (no rebuild), rebuilt by
    // the next check that reaches the blocks.
    long outside = 100 * TABLES * GAP;
    checker.enter(offset(outside), 1, ACTIVE_L2.mask());
    checker.validate();
    assertEquals(ACTIVE_L2.mask(), checker.check(offset(outside), 1, 0));
    assertEquals(1, rebuilds(checker));
    assertEquals(0, checker.check(offset(outside - 1), 1, 0));
    assertEquals(2, rebuilds(checker));
    checker.validate();
    assertEquals(ACTIVE_L2.mask(), checker.check(offset(GAP * 7), 1, 0));
  }

  @Test
  void rangesAcrossCellsAreNotAnsweredByTheFilter() {
    RunsOverlapChecker checker = preallocated();
    assertEquals(0, checker.check(offset(1), 1, 0));
    // From a clear cell to another clear cell with an L2 table between them.
    assertEquals(ACTIVE_L2.mask(), checker.check(offset(GAP * 10 - 40), 80L << CLUSTER_BITS, 0));
    assertEquals(0, checker.check(offset(GAP * 10 + 1), 60L << CLUSTER_BITS, 0));
  }

  @Test
  void removingAsManyRunsAsItHoldsRebuilds() {
    RunsOverlapChecker checker = preallocated();
    assertEquals(0, checker.check(offset(1), 1, 0));
    long before = rebuilds(checker);
    for (int i = 0; i < TABLES; i++) {
      checker.remove(offset(i * GAP), 1, ACTIVE_L2.mask());
      checker.enter(offset(i * GAP), 1, ACTIVE_L2.mask());
    }
    checker.remove(offset(0), 1, ACTIVE_L2.mask());
    checker.validate();
    assertEquals(0, checker.check(offset(GAP * 2 + 1), 1, 0));
    assertEquals(before + 1, rebuilds(checker));
    checker.validate();
    assertEquals(ACTIVE_L2.mask(), checker.check(offset(GAP * (TABLES - 1)), 1, 0));
  }

  /** An L2 table every {@value #GAP} clusters, as {@code preallocation=metadata} leaves them. */
  private static RunsOverlapChecker preallocated() {
    RunsOverlapChecker checker = Checkers.create(CLUSTER_BITS, RunsOverlapCheckerProvider.BLOCK_RUNS);
    for (int i = 0; i < TABLES; i++) {
      checker.enter(offset(i * GAP), 1, ACTIVE_L2.mask());
    }
    return checker;
  }

  private static long rebuilds(RunsOverlapChecker checker) {
    return checker.stats().get(RunsOverlapChecker.STAT_CELL_REBUILDS);
  }

  private static long offset(long cluster) {
    return cluster << CLUSTER_BITS;
  }
}
