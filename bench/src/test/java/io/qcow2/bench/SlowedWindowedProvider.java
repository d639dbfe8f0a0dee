package io.qcow2.bench;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import java.util.Map;

/**
 * Test-only strategy {@value #NAME}: the windowed strategy plus a fixed amount of pointless work on
 * every check, a deliberate regression that the gate must catch. Registered in the test class
 * path's {@code META-INF/services}, so benchmarks can select it by name like any strategy.
 */
public final class SlowedWindowedProvider implements OverlapCheckerProvider {
  static final String NAME = "slowed-windowed";
  /** Rounds of busy work per check: a few microseconds, far above windowed's own cost. */
  static final int BURN_ROUNDS = 4000;

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new Slowed(setup, OverlapCheckers.load("windowed").create(setup));
  }

  private static final class Slowed extends OverlapChecker {
    private final OverlapChecker delegate;
    private final int clusterBits;
    private long sink;

    Slowed(OverlapCheckerSetup setup, OverlapChecker delegate) {
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
      long x = sink | 1;
      for (int i = 0; i < BURN_ROUNDS; i++) {
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
      }
      sink = x;
      return delegate.check(first << clusterBits, count << clusterBits,
          MetadataType.ALL_MASK & ~wanted);
    }

    @Override
    protected void addStats(Map<String, Long> stats) {
      stats.put("burned", sink & 1);
    }
  }
}
