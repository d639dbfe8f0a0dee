package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;

/**
 * Test-only strategy {@value #NAME}: holds nothing, finds nothing, and burns a fixed amount of CPU
 * work on every check, so that all the time a workload spends in it beyond {@code none} is inside
 * the strategy: the direct share and the share against {@code none} must agree.
 */
public final class FixedBurnProvider implements OverlapCheckerProvider {
  static final String NAME = "fixed-burn";
  /** The same checker without the burn: what having a checker at all costs. */
  static final String EMPTY = "empty-checker";
  /**
   * Rounds of xorshift per check: about 0.5 µs here, a third of a W3 write without checks. Short on
   * purpose: the longer each write takes, the more of the neighbours' context switches (and cold
   * caches after them) it meets on a loaded machine, which the share against none counts as the
   * strategy's (bench/README.md).
   */
  static final int BURN_ROUNDS = 300;

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new Burning(setup, BURN_ROUNDS);
  }

  /** Test-only strategy {@value #EMPTY}: holds nothing, finds nothing, burns nothing. */
  public static final class Empty implements OverlapCheckerProvider {
    @Override
    public String name() {
      return EMPTY;
    }

    @Override
    public OverlapChecker create(OverlapCheckerSetup setup) {
      return new Burning(setup, 0);
    }
  }

  private static final class Burning extends OverlapChecker {
    private final int rounds;
    private long sink;

    Burning(OverlapCheckerSetup setup, int rounds) {
      super(setup);
      this.rounds = rounds;
    }

    @Override
    public long memoryBytes() {
      return 16;
    }

    @Override
    protected void enterClusters(long first, long count, int types) {}

    @Override
    protected void removeClusters(long first, long count, int types) {}

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      sink = Burn.rounds(sink + first, rounds);
      return (int) (sink & 0);
    }
  }
}
