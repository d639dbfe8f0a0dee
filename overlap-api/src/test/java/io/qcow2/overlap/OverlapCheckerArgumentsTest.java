package io.qcow2.overlap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The base class rejects ranges beyond 2^56 before a strategy sees them. */
class OverlapCheckerArgumentsTest {
  /** Counts calls that reach the strategy. */
  private static final class Counting extends OverlapChecker {
    int calls;

    Counting() {
      super(new OverlapCheckerSetup(16, MetadataType.ALL_MASK, MetadataView.EMPTY, Map.of()));
    }

    @Override public long memoryBytes() { return 0; }
    @Override protected void enterClusters(long first, long count, int types) { calls++; }
    @Override protected void removeClusters(long first, long count, int types) { calls++; }
    @Override protected int checkClusters(long first, long count, int wanted) { calls++; return 0; }
  }

  @ParameterizedTest
  @ValueSource(longs = {(1L << 56) + (1L << 16), 1L << 60, 1L << 62})
  void offsetsBeyondTheHostLimitAreRejected(long offset) {
    Counting checker = new Counting();
    int l2 = MetadataType.ACTIVE_L2.mask();
    assertThrows(IllegalArgumentException.class, () -> checker.enter(offset, 1, l2));
    assertThrows(IllegalArgumentException.class, () -> checker.remove(offset, 1, l2));
    assertThrows(IllegalArgumentException.class, () -> checker.enter(offset, 0, l2));
    assertThrows(IllegalArgumentException.class, () -> checker.check(offset, 1, 0));
    assertEquals(0, checker.calls);
  }

  @ParameterizedTest
  @ValueSource(longs = {0, 1L << 16, (1L << 56) - (1L << 16)})
  void rangesEndingAtTheLimitAreAccepted(long offset) {
    Counting checker = new Counting();
    long clusters = ((1L << 56) - offset) >>> 16;
    checker.enter(offset, clusters, MetadataType.ACTIVE_L2.mask());
    checker.remove(offset, clusters, MetadataType.ACTIVE_L2.mask());
    checker.check(offset, (1L << 56) - offset, 0);
    checker.enter(1L << 56, 0, MetadataType.ACTIVE_L2.mask());
    assertEquals(3, checker.calls);
    assertThrows(IllegalArgumentException.class,
        () -> checker.enter(offset, clusters + 1, MetadataType.ACTIVE_L2.mask()));
  }
}
