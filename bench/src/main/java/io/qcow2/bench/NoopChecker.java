package io.qcow2.bench;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;

/**
 * A checker that holds and finds nothing: what {@link CheckProbe} measures its own cost on, in a
 * tight loop and in the floor pass.
 */
final class NoopChecker extends OverlapChecker {
  static final OverlapCheckerSetup SETUP =
      new OverlapCheckerSetup(9, MetadataType.ALL_MASK, MetadataView.EMPTY, Map.of());

  NoopChecker() {
    this(SETUP);
  }

  NoopChecker(OverlapCheckerSetup setup) {
    super(setup);
  }

  @Override
  public long memoryBytes() {
    return 0;
  }

  @Override
  protected void enterClusters(long first, long count, int types) {}

  @Override
  protected void removeClusters(long first, long count, int types) {}

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    return 0;
  }
}
