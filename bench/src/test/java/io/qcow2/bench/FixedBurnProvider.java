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
  /** Rounds of xorshift per check: about 1 µs here, comparable to a W3 write without checks. */
  static final int BURN_ROUNDS = 600;

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new Burn(setup);
  }

  /** {@code rounds} rounds of xorshift on {@code seed}: work the JIT cannot remove. */
  static long burn(long seed, int rounds) {
    long x = seed | 1;
    for (int i = 0; i < rounds; i++) {
      x ^= x << 13;
      x ^= x >>> 7;
      x ^= x << 17;
    }
    return x;
  }

  private static final class Burn extends OverlapChecker {
    private long sink;

    Burn(OverlapCheckerSetup setup) {
      super(setup);
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
      sink = burn(sink + first, BURN_ROUNDS);
      return (int) (sink & 0);
    }
  }
}
