package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import java.util.ArrayList;
import java.util.List;

/**
 * A differential strategy for tests ({@code test-agree}): runs every other strategy on the class
 * path side by side, forwards every event to each, and fails on the first check they answer
 * differently. Engine tests run with it to catch a strategy and the engine disagreeing about the
 * metadata the engine reports (events) and the metadata it exposes (the view).
 */
final class AgreeingOverlapChecker extends OverlapChecker {
  static final String NAME = "test-agree";

  private final List<String> names = new ArrayList<>();
  private final List<OverlapChecker> checkers = new ArrayList<>();

  AgreeingOverlapChecker(OverlapCheckerSetup setup) {
    super(setup);
    for (String name : OverlapCheckers.names()) {
      if (!name.equals(NAME)) {
        names.add(name);
        checkers.add(OverlapCheckers.load(name).create(setup));
      }
    }
  }

  @Override
  public long memoryBytes() {
    return checkers.stream().mapToLong(OverlapChecker::memoryBytes).sum();
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    for (OverlapChecker c : checkers) {
      c.enter(first << clusterBits(), count, types);
    }
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    for (OverlapChecker c : checkers) {
      c.remove(first << clusterBits(), count, types);
    }
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    int ignored = MetadataType.ALL_MASK & ~wanted;
    int answer = checkers.get(0).check(first << clusterBits(), count << clusterBits(), ignored);
    for (int i = 1; i < checkers.size(); i++) {
      int other = checkers.get(i).check(first << clusterBits(), count << clusterBits(), ignored);
      if (other != answer) {
        throw new AssertionError(String.format(
            "strategies disagree on clusters [0x%x, +%d) wanted %s: %s says %s, %s says %s",
            first << clusterBits(), count, MetadataType.describe(wanted), names.get(0),
            MetadataType.describe(answer), names.get(i), MetadataType.describe(other)));
      }
    }
    return answer;
  }

  /** Registered as {@value #NAME}. */
  public static final class Provider implements OverlapCheckerProvider {
    @Override
    public String name() {
      return NAME;
    }

    @Override
    public OverlapChecker create(OverlapCheckerSetup setup) {
      return new AgreeingOverlapChecker(setup);
    }
  }
}
