package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import java.io.IOException;
import java.util.Arrays;

/**
 * The references the check counts per host cluster (QEMU's in-memory refcount table) and, when
 * asked, which metadata structures occupy each cluster. Sized from the file's length, never from
 * a field: references one cluster or more past the end of the file are corruptions and not
 * counted, so the counts grow past the end only for the partial cluster there.
 */
final class ClusterReferences {
  /**
   * Clusters past the end of the file the counts may grow to: references one cluster or more past
   * the end are refused, so a reference can reach at most into the cluster after the last.
   */
  static final long MAX_CLUSTERS_BEYOND_END = 2;
  /** Largest file whose clusters we count in one array. */
  static final long MAX_FILE_CLUSTERS = 1L << 28;
  /** Clusters a repair may grow the file by beyond doubling it (see {@link #growFile}). */
  static final long MAX_GROWTH_SLACK = 1L << 16;

  private final CheckFile file;
  private final CheckReport report;
  private final int clusterBits;
  private final long clusterSize;
  private final long refcountMax;
  private long fileClusters;
  private final ReferenceCounts counts;
  /** References to clusters past the end of the file, from {@code fileClusters}; grows. */
  private int[] beyondEnd = new int[0];
  /** Clusters counted: the file's, and past its end as far as a reference reached. */
  private long clusters;
  /** Mask of {@link MetadataType}s per cluster of the file; null unless tracked. */
  private short[] types;

  /**
   * Zero counts for the file as long as it is now.
   *
   * @throws UnsupportedFeatureException if the file has more than {@link #MAX_FILE_CLUSTERS}
   */
  ClusterReferences(CheckFile file, CheckedHeader header, CheckReport report, boolean trackTypes)
      throws UnsupportedFeatureException {
    this.file = file;
    this.report = report;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.refcountMax = header.refcountMax;
    fileClusters = (file.length() + clusterSize - 1) >>> clusterBits;
    if (fileClusters > MAX_FILE_CLUSTERS) {
      throw new UnsupportedFeatureException(String.format(
          "Image file of %d clusters is too large to check (at most %d)",
          fileClusters, MAX_FILE_CLUSTERS));
    }
    counts = new ReferenceCounts(fileClusters);
    types = trackTypes ? new short[(int) fileClusters] : null;
    clusters = fileClusters;
  }

  /**
   * {@code qcow2_inc_refcounts_imrt}: one more reference to every cluster touched by {@code
   * [offset, offset + length)}; marks them as {@code type} when that is not null.
   */
  void increment(long offset, long length, MetadataType type) {
    if (length <= 0 || report.walkFailed) {
      return;
    }
    if (offset < 0) {
      // Past 2^63 QEMU's signed end-of-file test passes and its array growth fails: ENOMEM
      // ends the whole check.
      report.walkFailed(
          "ERROR reference to offset 0x%x: Check failed: Cannot allocate memory", offset);
      return;
    }
    // QEMU 7.2 refuses to count references one cluster or more past the end of the file, whose
    // length it knows in whole sectors (bdrv_getlength() rounds up to 512 bytes).
    if (offset + length - ((file.length() + 511) & ~511L) >= clusterSize) {
      report.corruption("ERROR: counting reference for region exceeding the end of the "
          + "file by one cluster or more: offset 0x%x size 0x%x", offset, length);
      return;
    }
    long first = offset >>> clusterBits;
    long last = (offset + length - 1) >>> clusterBits;
    for (long cluster = first; cluster <= last; cluster++) {
      if (count(cluster) == refcountMax && refcountMax != -1L) {
        report.corruption("ERROR: overflow cluster offset=0x%x", cluster << clusterBits);
        report.message("Use qemu-img amend to increase the refcount entry width or qemu-img "
            + "convert to create a clean copy if the image cannot be opened for writing");
        continue;
      }
      if (cluster < fileClusters) {
        counts.increment(cluster);
        if (type != null && types != null) {
          types[(int) cluster] |= (short) type.mask();
        }
      } else {
        int index = (int) (cluster - fileClusters);
        if (index >= beyondEnd.length) {
          beyondEnd = Arrays.copyOf(beyondEnd,
              (int) Math.min(MAX_CLUSTERS_BEYOND_END, Math.max(index + 1L, index * 2L)));
        }
        beyondEnd[index]++;
        clusters = Math.max(clusters, cluster + 1);
      }
    }
  }

  /** Marks the file's clusters in {@code [offset, offset + length)} as {@code type}. */
  void markTypes(long offset, long length, MetadataType type) {
    if (types == null || length <= 0 || offset < 0) {
      return;
    }
    long first = offset >>> clusterBits;
    long last = Math.min((offset + length - 1) >>> clusterBits, fileClusters - 1);
    for (long cluster = first; cluster <= last; cluster++) {
      types[(int) cluster] |= (short) type.mask();
    }
  }

  /** References counted to {@code cluster}. */
  long count(long cluster) {
    if (cluster < fileClusters) {
      return counts.get(cluster);
    }
    long index = cluster - fileClusters;
    return index < beyondEnd.length ? beyondEnd[(int) index] : 0;
  }

  /** Clusters counted: those of the file and past its end as far as a reference reached. */
  long clusters() {
    return clusters;
  }

  /** The metadata type mask of every cluster of the file; null unless tracked. */
  short[] types() {
    return types;
  }

  /**
   * Whether {@code [offset, offset + length)} touches no metadata found by this check other than
   * {@code ignoredTypes}: the checks of QEMU's default overlap-check mode {@code cached}, which
   * leaves out inactive L2 tables (a COPIED fix in an active L2 table that a snapshot shares is
   * what qemu-img does too). Needs tracked types.
   */
  boolean overlapFree(long offset, long length, int ignoredTypes) {
    int checked = ~(ignoredTypes | MetadataType.INACTIVE_L2.mask());
    long first = offset >>> clusterBits;
    long last = Math.min((offset + length - 1) >>> clusterBits, fileClusters - 1);
    for (long cluster = first; cluster <= last; cluster++) {
      if ((types[(int) cluster] & checked) != 0) {
        return false;
      }
    }
    return true;
  }

  /**
   * Grows the file to {@code length} bytes (zeros) and the counts with it; false if the file
   * would be too large to check, or would grow to more than twice its clusters plus {@link
   * #MAX_GROWTH_SLACK}: a pointer far past the end is damage, and following it would cost memory
   * (bytes a cluster, several times) and a sparse file of the size it names. QEMU grows the file
   * whatever the offset.
   */
  boolean growFile(long length) throws IOException {
    long grown = (length + clusterSize - 1) >>> clusterBits;
    if (grown > MAX_FILE_CLUSTERS || grown > 2 * fileClusters + MAX_GROWTH_SLACK) {
      return false;
    }
    file.grow(length);
    counts.grow(grown);
    for (int i = 0; i < beyondEnd.length && fileClusters + i < grown; i++) {
      counts.add(fileClusters + i, beyondEnd[i]);
    }
    beyondEnd = new int[0];
    types = Arrays.copyOf(types, (int) grown);
    fileClusters = grown;
    clusters = Math.max(clusters, grown);
    return true;
  }
}
