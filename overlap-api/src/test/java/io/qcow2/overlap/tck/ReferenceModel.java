package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The obviously correct strategy: one map entry per metadata cluster, holding that cluster's type
 * mask. Every strategy is compared against it; it is itself run through {@link
 * OverlapCheckerConformanceTest}.
 *
 * <p>Type presence on a cluster is a set, not a count: entering a type twice and removing it once
 * leaves the cluster without it. Memory grows by one boxed map entry per metadata cluster (about
 * 80 bytes), so keep images below a few million metadata clusters.
 */
public class ReferenceModel extends OverlapChecker {
  /** Estimated bytes per map entry: HashMap.Node (32), Long (16), Integer (16), table slot (~16). */
  private static final long BYTES_PER_CLUSTER = 80;
  private static final long OBJECT_BYTES = 64;

  private final Map<Long, Integer> typesByCluster = new HashMap<>();

  public ReferenceModel(OverlapCheckerSetup setup) {
    super(setup);
  }

  /** A model protecting {@code enabledMask}, with no view (it does not scan). */
  public ReferenceModel(int clusterBits, int enabledMask) {
    this(new OverlapCheckerSetup(clusterBits, enabledMask, MetadataView.EMPTY, Map.of()));
  }

  /** The types recorded on {@code cluster}; 0 if none. */
  public final int typesAt(long cluster) {
    return typesByCluster.getOrDefault(cluster, 0);
  }

  /** A sorted copy of the non-empty per-cluster masks. */
  public final Map<Long, Integer> clusters() {
    return new TreeMap<>(typesByCluster);
  }

  /** Whether the non-empty per-cluster masks are exactly {@code typesByCluster}. */
  public final boolean hasClusters(Map<Long, Integer> typesByCluster) {
    return this.typesByCluster.equals(typesByCluster);
  }

  @Override
  public long memoryBytes() {
    return OBJECT_BYTES + BYTES_PER_CLUSTER * typesByCluster.size();
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    for (long cluster = first; cluster < first + count; cluster++) {
      typesByCluster.merge(cluster, types, (old, added) -> old | added);
    }
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    for (long cluster = first; cluster < first + count; cluster++) {
      typesByCluster.computeIfPresent(cluster, (key, old) -> (old & ~types) == 0 ? null : old & ~types);
    }
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    int found = 0;
    if (count <= typesByCluster.size()) {
      for (long cluster = first; cluster < first + count; cluster++) {
        found |= typesByCluster.getOrDefault(cluster, 0);
      }
    } else {
      for (Map.Entry<Long, Integer> entry : typesByCluster.entrySet()) {
        long cluster = entry.getKey();
        if (cluster >= first && cluster - first < count) {
          found |= entry.getValue();
        }
      }
    }
    return found & wanted;
  }
}
