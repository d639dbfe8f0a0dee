package io.qcow2.format;

import java.util.List;

/**
 * What an image's header says, as {@code qemu-img info} shows it. Immutable.
 *
 * @param version 2 (compat 0.10) or 3 (compat 1.1)
 * @param clusterBits log2 of the cluster size
 * @param refcountBits width of a refcount entry, 1 to 64
 * @param virtualSize guest size in bytes
 * @param l1Size entries in the active L1 table
 * @param l1Offset host offset of the active L1 table
 * @param refcountTableOffset host offset of the refcount table
 * @param refcountTableClusters clusters of the refcount table
 * @param snapshotCount internal snapshots
 * @param incompatibleFeatures incompatible feature bits (v3; 0 for v2)
 * @param compatibleFeatures compatible feature bits
 * @param autoclearFeatures autoclear feature bits
 * @param dirty the dirty bit (incompatible bit 0)
 * @param corrupt the corrupt bit (incompatible bit 1)
 * @param lazyRefcounts the lazy refcounts bit (compatible bit 0)
 * @param backingFile the backing file name as stored, or null
 * @param backingFormat the backing format from the header extension, or null
 * @param extensions every header extension, in file order, unknown ones included
 */
public record ImageInfo(
    int version,
    int clusterBits,
    int refcountBits,
    long virtualSize,
    int l1Size,
    long l1Offset,
    long refcountTableOffset,
    int refcountTableClusters,
    int snapshotCount,
    long incompatibleFeatures,
    long compatibleFeatures,
    long autoclearFeatures,
    boolean dirty,
    boolean corrupt,
    boolean lazyRefcounts,
    String backingFile,
    String backingFormat,
    List<HeaderExtension> extensions) {
  public ImageInfo {
    extensions = List.copyOf(extensions);
  }

  public int clusterSize() {
    return 1 << clusterBits;
  }

  /** "0.10" for version 2, "1.1" for version 3. */
  public String compat() {
    return version == 2 ? "0.10" : "1.1";
  }
}
