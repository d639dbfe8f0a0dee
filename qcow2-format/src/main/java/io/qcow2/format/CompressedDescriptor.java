package io.qcow2.format;

/**
 * The compressed-cluster descriptor of an L2 entry (qcow2.txt, "Compressed Clusters Descriptor"):
 * with {@code x = 62 - (cluster_bits - 8)}, bits 0 to x-1 hold the host offset of the compressed
 * data and bits x to 61 the number of additional 512-byte sectors it spans. The one decoder the
 * read path, compressed writes, the allocator's frees, snapshots and check share.
 */
final class CompressedDescriptor {
  private CompressedDescriptor() {}

  private static int sizeShift(int clusterBits) {
    return 62 - (clusterBits - 8);
  }

  /** Host offset of the compressed data's first byte. */
  static long hostOffset(long entry, int clusterBits) {
    return entry & ((1L << sizeShift(clusterBits)) - 1);
  }

  /** 512-byte sectors the data spans, counted from the sector holding its first byte. */
  static long sectors(long entry, int clusterBits) {
    return ((entry >>> sizeShift(clusterBits)) & ((1L << (clusterBits - 8)) - 1)) + 1;
  }

  /** Bytes from the first byte to the end of the last sector (what QEMU reads and counts). */
  static long compressedBytes(long entry, int clusterBits) {
    return sectors(entry, clusterBits) * 512 - (hostOffset(entry, clusterBits) & 511);
  }

  /** Offset of the sector holding the first byte: where the data's host range starts. */
  static long firstSector(long entry, int clusterBits) {
    return hostOffset(entry, clusterBits) & ~511L;
  }

  /**
   * The descriptor (without the compressed flag, bit 62) of {@code length} compressed bytes at
   * {@code hostOffset}: the sector count is that of the sectors the bytes touch, as QEMU's
   * {@code qcow2_alloc_compressed_cluster_offset} writes it.
   */
  static long encode(long hostOffset, int length, int clusterBits) {
    long sectors = (hostOffset + length - 1) / 512 - hostOffset / 512;
    assert sectors >= 0 && sectors < (1L << (clusterBits - 8)) : sectors;
    assert hostOffset < (1L << sizeShift(clusterBits)) : hostOffset;
    return hostOffset | (sectors << sizeShift(clusterBits));
  }
}
