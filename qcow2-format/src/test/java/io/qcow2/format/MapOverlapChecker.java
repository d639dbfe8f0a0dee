package io.qcow2.format;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.HashMap;
import java.util.Map;

/** An obviously correct strategy for tests: one map entry per metadata cluster. */
final class MapOverlapChecker extends OverlapChecker {
  private final Map<Long, Integer> types = new HashMap<>();

  MapOverlapChecker(OverlapCheckerSetup setup) {
    super(setup);
  }

  @Override
  public long memoryBytes() {
    return 64L * types.size();
  }

  @Override
  protected void enterClusters(long first, long count, int t) {
    for (long c = first; c < first + count; c++) {
      types.merge(c, t, (a, b) -> a | b);
    }
  }

  @Override
  protected void removeClusters(long first, long count, int t) {
    for (long c = first; c < first + count; c++) {
      Integer old = types.get(c);
      if (old != null) {
        int left = old & ~t;
        if (left == 0) {
          types.remove(c);
        } else {
          types.put(c, left);
        }
      }
    }
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    int found = 0;
    for (long c = first; c < first + count; c++) {
      Integer t = types.get(c);
      if (t != null) {
        found |= t;
      }
    }
    return found & wanted;
  }

  /** Registered as {@code test-map}. */
  public static final class Provider implements OverlapCheckerProvider {
    @Override
    public String name() {
      return "test-map";
    }

    @Override
    public OverlapChecker create(OverlapCheckerSetup setup) {
      return new MapOverlapChecker(setup);
    }
  }
}
