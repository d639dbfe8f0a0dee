/**
 * The windowed overlap-check strategy ({@code windowed}): run-length fragment lists per window of
 * clusters, expanded on demand into per-cluster type maps held in a small LRU cache.
 */
module io.qcow2.overlap.windowed {
  requires io.qcow2.overlap;

  provides io.qcow2.overlap.OverlapCheckerProvider with
      io.qcow2.overlap.windowed.WindowedOverlapCheckerProvider;
}
