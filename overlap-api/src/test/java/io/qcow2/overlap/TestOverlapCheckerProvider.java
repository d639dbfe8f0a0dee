package io.qcow2.overlap;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A provider registered only for overlap-api's own tests: a per-cluster map under the name
 * {@value #NAME}, declaring one option. (The reference model lives in overlap-tck, which depends on
 * this module.)
 */
public final class TestOverlapCheckerProvider implements OverlapCheckerProvider {
  static final String NAME = "test-reference";
  static final StrategyOption OPTION = new StrategyOption(
      "overlap-test-knob", "on, off", "off", "Does nothing; declared so that tests can pass it.");

  /** One map entry per metadata cluster: obviously correct, and slow on large ranges. */
  static final class MapChecker extends OverlapChecker {
    private final Map<Long, Integer> types = new HashMap<>();

    MapChecker(OverlapCheckerSetup setup) {
      super(setup);
    }

    @Override
    public long memoryBytes() {
      return 64L * (types.size() + 1);
    }

    @Override
    protected void enterClusters(long first, long count, int mask) {
      for (long c = first; c < first + count; c++) {
        types.merge(c, mask, (a, b) -> a | b);
      }
    }

    @Override
    protected void removeClusters(long first, long count, int mask) {
      for (long c = first; c < first + count; c++) {
        types.computeIfPresent(c, (k, v) -> (v & ~mask) == 0 ? null : v & ~mask);
      }
    }

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      int found = 0;
      for (Map.Entry<Long, Integer> e : types.entrySet()) {
        if (e.getKey() >= first && e.getKey() - first < count) {
          found |= e.getValue();
        }
      }
      return found & wanted;
    }
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new MapChecker(setup);
  }

  @Override
  public List<StrategyOption> options() {
    return List.of(OPTION);
  }
}
