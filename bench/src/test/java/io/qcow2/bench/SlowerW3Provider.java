package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;

/**
 * Test-only strategy {@value #NAME}: windowed plus a fixed amount of CPU work on every check, as
 * many nanoseconds as the system property {@value #NANOS_PROPERTY} says. {@code
 * GateCatchesTwentyPercentTest} sets it to 20 % of W3's CPU time per write with windowed, so that
 * W3 becomes 20 % slower, and measures the slowdown it really causes.
 */
public final class SlowerW3Provider implements OverlapCheckerProvider {
  static final String NAME = "slower-w3";
  static final String NANOS_PROPERTY = "slower-w3.nanos";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    String nanos = System.getProperty(NANOS_PROPERTY);
    if (nanos == null) {
      throw new IllegalStateException(NAME + " needs -D" + NANOS_PROPERTY + "=NANOS_PER_CHECK");
    }
    return new Slower(setup, Double.parseDouble(nanos));
  }

  private static final class Slower extends WindowedWithExtraWork {
    private final double nanos;

    Slower(OverlapCheckerSetup setup, double nanos) {
      super(setup);
      this.nanos = nanos;
    }

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      Burn.nanos(nanos);
      return windowedCheck(first, count, wanted);
    }
  }
}
