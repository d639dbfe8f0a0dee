package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
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
    return new Slowed(setup);
  }

  private static final class Slowed extends WindowedWithExtraWork {
    private long sink;

    Slowed(OverlapCheckerSetup setup) {
      super(setup);
    }

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      sink = Burn.rounds(sink, BURN_ROUNDS);
      return windowedCheck(first, count, wanted);
    }

    @Override
    protected void addStats(Map<String, Long> stats) {
      stats.put("burned", sink & 1);
    }
  }
}
