package io.qcow2.bench;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;

/**
 * Test-only strategy {@value #NAME}: windowed, 20 % slower per check. Every {@value #SAMPLE}th
 * check is timed and followed by CPU work of {@value #SAMPLE} × 20 % of its time, less the timing's
 * own cost, so that on average every check costs 1.2 times windowed's. {@code GateCatchesTwentyPercentTest}
 * measures the slowdown it really causes next to windowed's in the same run.
 */
public final class SlowerChecksProvider implements OverlapCheckerProvider {
  static final String NAME = "slower-checks";
  static final int SAMPLE = 8;
  static final double SLOWDOWN = 0.2;
  /** Two System.nanoTime calls, which the sampled check pays on top. */
  private static final double TIMING_NANOS = 50;

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new Slower(setup, OverlapCheckers.load("windowed").create(setup));
  }

  private static final class Slower extends OverlapChecker {
    private final OverlapChecker delegate;
    private final int clusterBits;
    private int calls;

    Slower(OverlapCheckerSetup setup, OverlapChecker delegate) {
      super(setup);
      this.delegate = delegate;
      this.clusterBits = setup.clusterBits();
    }

    @Override
    public long memoryBytes() {
      return delegate.memoryBytes();
    }

    @Override
    protected void enterClusters(long first, long count, int types) {
      delegate.enter(first << clusterBits, count, types);
    }

    @Override
    protected void removeClusters(long first, long count, int types) {
      delegate.remove(first << clusterBits, count, types);
    }

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      int ignored = MetadataType.ALL_MASK & ~wanted;
      if (++calls % SAMPLE != 0) {
        return delegate.check(first << clusterBits, count << clusterBits, ignored);
      }
      long start = System.nanoTime();
      int found = delegate.check(first << clusterBits, count << clusterBits, ignored);
      long took = System.nanoTime() - start;
      Burn.nanos(SAMPLE * SLOWDOWN * took - TIMING_NANOS);
      return found;
    }
  }
}
