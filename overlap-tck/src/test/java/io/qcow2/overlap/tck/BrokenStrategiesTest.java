package io.qcow2.overlap.tck;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The suite catches broken strategies, so it cannot pass vacuously. */
class BrokenStrategiesTest {
  private static final long OPERATIONS = 20_000;

  /** Forgets every remove. */
  static final class ForgetfulChecker extends ReferenceModel {
    ForgetfulChecker(OverlapCheckerSetup setup) {
      super(setup);
    }

    @Override
    protected void removeClusters(long first, long count, int types) {}
  }

  /** Enters every range but its last cluster. */
  static final class LastClusterBlindChecker extends ReferenceModel {
    LastClusterBlindChecker(OverlapCheckerSetup setup) {
      super(setup);
    }

    @Override
    protected void enterClusters(long first, long count, int types) {
      super.enterClusters(first, count - 1, types);
    }
  }

  /** Looks only at the first cluster of a multi-cluster check. */
  static final class FirstClusterOnlyChecker extends ReferenceModel {
    FirstClusterOnlyChecker(OverlapCheckerSetup setup) {
      super(setup);
    }

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      return super.checkClusters(first, 1, wanted);
    }
  }

  /** Reports only the lowest overlapping type, as QEMU's original check did. */
  static final class FirstTypeOnlyChecker extends ReferenceModel {
    FirstTypeOnlyChecker(OverlapCheckerSetup setup) {
      super(setup);
    }

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      return Integer.lowestOneBit(super.checkClusters(first, count, wanted));
    }
  }

  private static void assertDifferentialCatches(
      Function<OverlapCheckerSetup, OverlapChecker> broken, int clusterBits) {
    long seed = DifferentialRun.seedFromProperty();
    DifferentialRun.Disagreement found =
        DifferentialRun.run(broken, clusterBits, MetadataType.ALL_MASK, seed, OPERATIONS);
    assertNotNull(found, "seed " + seed + ": the differential run missed a broken strategy");
    String message = found.toString();
    assertTrue(message.contains("seed " + seed) && message.contains("step " + found.step()),
        message);
  }

  private static OverlapCheckerConformanceTest suiteFor(
      Function<OverlapCheckerSetup, OverlapChecker> strategy) {
    return new OverlapCheckerConformanceTest() {
      @Override
      protected OverlapChecker create(OverlapCheckerSetup setup) {
        return strategy.apply(setup);
      }
    };
  }

  @Test
  void differentialRunAcceptsTheReferenceModel() {
    assertNull(DifferentialRun.run(ReferenceModel::new, 9, MetadataType.ALL_MASK,
        DifferentialRun.seedFromProperty(), OPERATIONS));
  }

  @Test
  void forgetfulCheckerIsCaught() {
    assertDifferentialCatches(ForgetfulChecker::new, 9);
    OverlapCheckerConformanceTest suite = suiteFor(ForgetfulChecker::new);
    assertThrows(AssertionError.class, () -> suite.removingOneTypeKeepsTheOthers(9));
    assertThrows(AssertionError.class, () -> suite.enteringTwiceThenRemovingOnceRemoves(16));
    assertThrows(AssertionError.class, () -> suite.rangesAcrossWindowBoundaries(9));
  }

  @Test
  void lastClusterBlindCheckerIsCaught() {
    assertDifferentialCatches(LastClusterBlindChecker::new, 9);
    OverlapCheckerConformanceTest suite = suiteFor(LastClusterBlindChecker::new);
    assertThrows(AssertionError.class, () -> suite.boundariesOfEnteredRange(9));
    assertThrows(AssertionError.class, () -> suite.headerIsClusterZero(12));
  }

  @Test
  void firstClusterOnlyCheckerIsCaught() {
    assertDifferentialCatches(FirstClusterOnlyChecker::new, 12);
    OverlapCheckerConformanceTest suite = suiteFor(FirstClusterOnlyChecker::new);
    assertThrows(AssertionError.class, () -> suite.unalignedRangesRoundOutToClusters(9));
  }

  @Test
  void firstTypeOnlyCheckerIsCaught() {
    assertDifferentialCatches(FirstTypeOnlyChecker::new, 9);
    OverlapCheckerConformanceTest suite = suiteFor(FirstTypeOnlyChecker::new);
    assertThrows(AssertionError.class, () -> suite.ignoredTypesAreNotReported(9));
  }
}
