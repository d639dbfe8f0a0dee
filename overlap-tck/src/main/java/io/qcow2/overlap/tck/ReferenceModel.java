package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;
import java.util.TreeMap;

/**
 * The obviously correct strategy: one map entry per metadata cluster, holding that cluster's type
 * mask. Every strategy is compared against it; it is itself run through {@link
 * OverlapCheckerConformanceTest}.
 *
 * <p>Type presence on a cluster is a set, not a count: entering a type twice and removing it once
 * leaves the cluster without it. It holds about 24 bytes per metadata cluster (a primitive hash
 * map, at most half full).
 *
 * <p>Not final only so that tests can derive deliberately broken strategies from it.
 */
public class ReferenceModel extends OverlapChecker {
  /** This object and the map object, estimated: headers, fields, padding. */
  private static final long OBJECT_BYTES = 96;

  private final ClusterTypeMap typesByCluster = new ClusterTypeMap();

  public ReferenceModel(OverlapCheckerSetup setup) {
    super(setup);
  }

  /** A model protecting {@code enabledMask}, with no view (it does not scan). */
  public ReferenceModel(int clusterBits, int enabledMask) {
    this(new OverlapCheckerSetup(clusterBits, enabledMask, MetadataView.EMPTY, Map.of()));
  }

  /** The types recorded on {@code cluster}; 0 if none. */
  public final int typesAt(long cluster) {
    return typesByCluster.get(cluster);
  }

  /** A sorted copy of the non-empty per-cluster masks. */
  public final Map<Long, Integer> clusters() {
    Map<Long, Integer> copy = new TreeMap<>();
    typesByCluster.forEach(copy::put);
    return copy;
  }

  /** Whether the non-empty per-cluster masks are exactly {@code typesByCluster}. */
  public final boolean hasClusters(Map<Long, Integer> typesByCluster) {
    if (this.typesByCluster.size() != typesByCluster.size()) {
      return false;
    }
    for (Map.Entry<Long, Integer> entry : typesByCluster.entrySet()) {
      if (this.typesByCluster.get(entry.getKey()) != entry.getValue()) {
        return false;
      }
    }
    return true;
  }

  @Override
  public long memoryBytes() {
    return OBJECT_BYTES + typesByCluster.arrayBytes();
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    for (long cluster = first; cluster < first + count; cluster++) {
      typesByCluster.or(cluster, types);
    }
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    for (long cluster = first; cluster < first + count; cluster++) {
      typesByCluster.andNot(cluster, types);
    }
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    int found = 0;
    if (count <= typesByCluster.size()) {
      for (long cluster = first; cluster < first + count; cluster++) {
        found |= typesByCluster.get(cluster);
      }
    } else {
      found = typesByCluster.unionInRange(first, count);
    }
    return found & wanted;
  }
}
