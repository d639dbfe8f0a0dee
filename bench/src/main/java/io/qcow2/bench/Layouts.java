package io.qcow2.bench;

import io.qcow2.overlap.tck.SimulatedImage;

/**
 * Image layouts the micro benchmarks and the memory report run on, all built with the conformance
 * suite's {@link SimulatedImage}, so every strategy sees the same metadata through both its
 * {@link io.qcow2.overlap.MetadataView} and its enter/remove events.
 */
final class Layouts {
  /** 512-byte clusters, as in the series' W1 and W3: the most metadata per byte of image. */
  static final int CLUSTER_BITS = 9;

  private Layouts() {}

  /**
   * {@code l2Tables} active L2 tables in consecutive clusters (with their L1 table and refcount
   * blocks), followed by {@code dataClusters} guest data clusters. Fast to build even with 10^7
   * tables.
   */
  static SimulatedImage consecutive(int clusterBits, int l2Tables, long dataClusters) {
    SimulatedImage image = SimulatedImage.withL2Tables(clusterBits, l2Tables);
    if (dataClusters > 0) {
      image.allocateData(dataClusters);
    }
    return image;
  }

  /**
   * The layout {@code qemu-img create -o preallocation=metadata} leaves: every L2 table followed by
   * the data clusters it maps, refcount blocks in between as the allocation grows, for an image of
   * {@code l2Tables} L2 tables. Every window of the windowed strategy holds metadata, and every L2
   * table is its own fragment: the worst case for its memory and its cache.
   */
  static SimulatedImage preallocated(int clusterBits, int l2Tables) {
    SimulatedImage image = new SimulatedImage(clusterBits);
    int entriesPerL2 = (1 << clusterBits) / Long.BYTES;
    image.growL1(Math.max(16, l2Tables));
    for (int i = 0; i < l2Tables; i++) {
      image.allocateL2(i);
      image.allocateData(entriesPerL2);
    }
    return image;
  }

  /** L2 tables a preallocated image of {@code imageBytes} guest bytes needs. */
  static int l2TablesFor(long imageBytes, int clusterBits) {
    long clusters = imageBytes >>> clusterBits;
    long entriesPerL2 = (1L << clusterBits) / Long.BYTES;
    return Math.toIntExact((clusters + entriesPerL2 - 1) / entriesPerL2);
  }

  /** Metadata structures of the image: L2 tables plus refcount blocks. */
  static long structures(SimulatedImage image) {
    return (long) image.activeL2Count() + image.refcountBlockCount();
  }
}
