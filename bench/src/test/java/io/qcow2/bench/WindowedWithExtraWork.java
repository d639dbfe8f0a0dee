package io.qcow2.bench;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;

/**
 * The windowed strategy behind one more checker, for the test-only strategies that make it
 * deliberately slower: enter, remove and memory pass through, and a subclass adds its extra work
 * around {@link #windowedCheck} in {@link #checkClusters}.
 */
abstract class WindowedWithExtraWork extends OverlapChecker {
  private final OverlapChecker windowed;
  private final int clusterBits;

  WindowedWithExtraWork(OverlapCheckerSetup setup) {
    super(setup);
    this.windowed = OverlapCheckers.load("windowed").create(setup);
    this.clusterBits = setup.clusterBits();
  }

  /** Windowed's answer for clusters {@code [first, first + count)}, within {@code wanted}. */
  final int windowedCheck(long first, long count, int wanted) {
    return windowed.check(first << clusterBits, count << clusterBits,
        MetadataType.ALL_MASK & ~wanted);
  }

  @Override
  public long memoryBytes() {
    return windowed.memoryBytes();
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    windowed.enter(first << clusterBits, count, types);
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    windowed.remove(first << clusterBits, count, types);
  }
}
