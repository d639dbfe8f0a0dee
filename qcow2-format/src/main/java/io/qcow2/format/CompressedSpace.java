package io.qcow2.format;

import java.io.IOException;

/**
 * Host space for the compressed clusters of one compressed write, packed byte after byte into
 * clusters as QEMU's {@code qcow2_alloc_bytes} packs them: a host cluster holding several
 * compressed clusters has a refcount of one per compressed cluster that touches it, and a
 * compressed cluster may run on from one host cluster into the next.
 */
final class CompressedSpace {
  /*
   * Unlike QEMU, which keeps its free byte offset for the life of the image, this one lives for
   * one request: within a compressed write nothing is freed, so the partly used cluster cannot
   * have been freed and handed out again meanwhile. As in QEMU, compressed bytes run on into the
   * next cluster when the allocator hands out the one right after the current cluster; otherwise
   * they start at the new cluster and the rest of the current one stays unused.
   */
  private final Refcounts refcounts;
  private final int clusterBits;
  /** The next free byte in the current cluster; 0 when there is none. */
  private long freeByte;

  CompressedSpace(Refcounts refcounts, int clusterBits) {
    this.refcounts = refcounts;
    this.clusterBits = clusterBits;
  }

  /**
   * Host space for {@code size} compressed bytes (less than a cluster), with the refcounts of
   * the clusters it touches raised.
   *
   * @return the host offset of the first byte
   */
  long allocate(int size) throws IOException {
    long clusterSize = 1L << clusterBits;
    if (size <= 0 || size >= clusterSize) {
      throw new IllegalArgumentException("compressed size " + size + " not in (0, " + clusterSize + ")");
    }
    long current = freeByte >>> clusterBits;
    // A refcount at its maximum (refcount_bits=1 always) cannot share: QEMU starts a new cluster.
    boolean shareable = freeByte != 0
        && Long.compareUnsigned(refcounts.get(current), RefcountEntries.max(refcounts.order())) < 0;
    if (shareable && clusterSize - (freeByte & (clusterSize - 1)) >= size) {
      refcounts.update(current, 1, 1);
      return take(freeByte, size);
    }
    long fresh = refcounts.allocate(1); // refcount 1: the reference of these bytes
    if (shareable && fresh == (current + 1) << clusterBits) {
      refcounts.update(current, 1, 1);
      return take(freeByte, size);
    }
    return take(fresh, size);
  }

  private long take(long at, int size) {
    long next = at + size;
    freeByte = (next & ((1L << clusterBits) - 1)) == 0 ? 0 : next;
    return at;
  }
}
