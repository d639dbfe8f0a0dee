package bounds;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Arrays;

/**
 * A measuring instrument, not a strategy: one bit per cluster ("any metadata here") in front of a
 * per-cluster type map, so a check of one data cluster is one load from an array of clusters / 8
 * bytes. It bounds what a lookup costs inside the engine's workloads. Its memory grows with the
 * highest cluster entered (2 bytes and a bit per cluster, up to 2^31 clusters): unfit for real
 * images, and it fails the conformance kit's huge ranges on purpose.
 */
public final class ClusterMapProvider implements OverlapCheckerProvider {
  @Override
  public String name() {
    return "cluster-map";
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new ClusterMap(setup);
  }

  static final class ClusterMap extends OverlapChecker {
    private long[] any = new long[16];
    private char[] types = new char[1024];

    ClusterMap(OverlapCheckerSetup setup) {
      super(setup);
    }

    @Override
    public long memoryBytes() {
      return 32 + 16 + 8L * any.length + 16 + 2L * types.length;
    }

    @Override
    protected void enterClusters(long first, long count, int mask) {
      long end = first + count;
      if (end > types.length) {
        int length = (int) Math.min(Integer.MAX_VALUE - 64, Math.max(end, 2L * types.length));
        types = Arrays.copyOf(types, length);
        any = Arrays.copyOf(any, (length + 63) >>> 6);
      }
      for (long c = first; c < end; c++) {
        types[(int) c] |= (char) mask;
        any[(int) (c >>> 6)] |= 1L << c;
      }
    }

    @Override
    protected void removeClusters(long first, long count, int mask) {
      long end = Math.min(first + count, types.length);
      for (long c = first; c < end; c++) {
        types[(int) c] &= (char) ~mask;
        if (types[(int) c] == 0) {
          any[(int) (c >>> 6)] &= ~(1L << c);
        }
      }
    }

    @Override
    protected int checkClusters(long first, long count, int wanted) {
      if (count == 1) {
        if (first >= types.length || (any[(int) (first >>> 6)] & 1L << first) == 0) {
          return 0;
        }
        return types[(int) first] & wanted;
      }
      long end = Math.min(first + count, types.length);
      int found = 0;
      for (long c = first; c < end; c++) {
        found |= types[(int) c];
      }
      return found & wanted;
    }
  }
}
