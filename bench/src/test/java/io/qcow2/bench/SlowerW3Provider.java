package io.qcow2.bench;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;

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
    return new Slower(setup, OverlapCheckers.load("windowed").create(setup),
        Double.parseDouble(nanos));
  }

  private static final class Slower extends OverlapChecker {
    private final OverlapChecker delegate;
    private final int clusterBits;
    private final double nanos;

    Slower(OverlapCheckerSetup setup, OverlapChecker delegate, double nanos) {
      super(setup);
      this.delegate = delegate;
      this.clusterBits = setup.clusterBits();
      this.nanos = nanos;
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
      Burn.nanos(nanos);
      return delegate.check(first << clusterBits, count << clusterBits,
          MetadataType.ALL_MASK & ~wanted);
    }
  }
}
