package io.qcow2.format;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The references the check counts per host cluster, in one byte a cluster: a 4 TiB image of 64 KiB
 * clusters needs 64 MiB, not the 256 MiB of an {@code int} each. A count of 255 or more (more
 * references to one cluster than that: as many snapshots sharing it) moves to a side map.
 */
final class ReferenceCounts {
  private static final int IN_SIDE_MAP = 0xff;

  private byte[] counts;
  /** Counts of at least {@link #IN_SIDE_MAP}; boxed, as they are rare. */
  private final Map<Long, Long> large = new HashMap<>();

  /** Counts of zero for clusters {@code [0, clusters)}; at most {@link Integer#MAX_VALUE - 8}. */
  ReferenceCounts(long clusters) {
    this.counts = new byte[checkedLength(clusters)];
  }

  private static int checkedLength(long clusters) {
    checkArgument(clusters >= 0 && clusters <= Integer.MAX_VALUE - 8,
        "cluster count %s out of range", clusters);
    return (int) clusters;
  }

  /** Covers clusters {@code [0, clusters)}, the new ones at zero (a repair grew the file). */
  void grow(long clusters) {
    int length = checkedLength(clusters);
    checkArgument(length >= counts.length,
        "cannot shrink from %s to %s clusters", counts.length, clusters);
    counts = Arrays.copyOf(counts, length);
  }

  /** Sets the count of {@code cluster} to 0. */
  void clear(long cluster) {
    if ((counts[(int) cluster] & 0xff) == IN_SIDE_MAP) {
      large.remove(cluster);
    }
    counts[(int) cluster] = 0;
  }

  /** Clusters covered. */
  long clusters() {
    return counts.length;
  }

  /** Adds {@code n >= 0} references to {@code cluster}. */
  void add(long cluster, long n) {
    checkArgument(n >= 0, "negative reference count %s", n);
    for (long k = 0; k < n; k++) {
      increment(cluster);
    }
  }

  long get(long cluster) {
    int c = counts[(int) cluster] & 0xff;
    return c == IN_SIDE_MAP ? large.get(cluster) : c;
  }

  void increment(long cluster) {
    int index = (int) cluster;
    int c = counts[index] & 0xff;
    if (c < IN_SIDE_MAP - 1) {
      counts[index] = (byte) (c + 1);
    } else if (c == IN_SIDE_MAP - 1) {
      counts[index] = (byte) IN_SIDE_MAP;
      large.put(cluster, (long) IN_SIDE_MAP);
    } else {
      large.merge(cluster, 1L, Long::sum);
    }
  }
}
