package io.qcow2.overlap.windowed;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.HashMap;
import java.util.Map;

/**
 * The obviously correct checker: one map entry per cluster that holds metadata. Stands in for the
 * TCK's {@code ReferenceModel} until that lands on this branch.
 */
final class PerClusterModel extends OverlapChecker {
  private final Map<Long, Integer> types = new HashMap<>();

  PerClusterModel(OverlapCheckerSetup setup) {
    super(setup);
  }

  @Override
  protected void enterClusters(long first, long count, int mask) {
    for (long c = first; c < first + count; c++) {
      types.merge(c, mask, (a, b) -> a | b);
    }
  }

  @Override
  protected void removeClusters(long first, long count, int mask) {
    if (count > types.size()) {
      for (Long c : new java.util.ArrayList<>(types.keySet())) {
        if (c >= first && c - first < count) {
          removeClusters(c, 1, mask);
        }
      }
      return;
    }
    for (long c = first; c < first + count; c++) {
      Integer old = types.get(c);
      if (old != null) {
        int left = old & ~mask;
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
    if (count > types.size()) {
      for (Map.Entry<Long, Integer> e : types.entrySet()) {
        if (e.getKey() >= first && e.getKey() - first < count) {
          found |= e.getValue();
        }
      }
    } else {
      for (long c = first; c < first + count; c++) {
        found |= types.getOrDefault(c, 0);
      }
    }
    return found & wanted;
  }

  @Override
  public long memoryBytes() {
    return 0;
  }
}
