package io.qcow2.format;

import com.google.common.base.Preconditions;
import io.qcow2.overlap.MetadataType;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * Checks a qcow2 image's metadata the way {@code qemu-img check} does: walks every table of the
 * active state and of every internal snapshot, counts the references to each host cluster, and
 * compares the counts with the stored refcounts. {@link #run} only reads the image; {@link
 * #repair} fixes what {@code qemu-img check -r} fixes.
 *
 * <p>The result has the same counts and exit status as {@code qemu-img check} on the images we
 * test; messages use QEMU's wording ({@code "ERROR cluster 5 refcount=1 reference=2"}).
 */
public final class ImageCheck {
  /** Messages kept in a {@link CheckResult} by default. */
  public static final int DEFAULT_MAX_MESSAGES = 100;

  /*
   * Follows QEMU 7.2's qcow2_check_refcounts() (block/qcow2-refcount.c), one pass at a time
   * (CheckPass): the header opened as qemu-img check opens it (CheckedHeader, BitmapCheck), the
   * references counted (ReferenceScan into ClusterReferences), compared with the stored refcounts
   * (RefcountComparison against StoredRefcounts), the refcount structure rebuilt when repairing
   * needs it (RefcountRebuild), the COPIED flags checked (CopiedFlagCheck). Like QEMU, reads
   * beyond the end of the file return zeros (CheckFile), references one cluster or more past the
   * end of the file are corruptions and not counted.
   *
   * Everything read from the file is hostile: tables are read only as far as the file extends (the
   * rest is zeros and never allocated), counts are bounded before use, and the reference counts
   * are sized from the file length, not from any field. The on-disk layout is decoded by the
   * engine's codec (Header.Fields, HeaderExtension.locate, Snapshot.Head, RefcountEntries,
   * CompressedDescriptor); only the tolerance and the messages are check's.
   */

  private ImageCheck() {}

  /**
   * Checks the image at {@code image}, keeping the first {@link #DEFAULT_MAX_MESSAGES} messages.
   *
   * @throws CorruptImageException if the header is so broken that the image cannot be opened
   * @throws UnsupportedFeatureException if the image uses a feature this engine lacks
   * @throws IOException if the file cannot be read
   */
  public static CheckResult run(Path image) throws IOException {
    return run(image, DEFAULT_MAX_MESSAGES);
  }

  /**
   * Checks the image at {@code image}, keeping the first {@code maxMessages} messages.
   *
   * @throws IllegalArgumentException if {@code maxMessages} is negative
   * @throws CorruptImageException if the header is so broken that the image cannot be opened
   * @throws UnsupportedFeatureException if the image uses a feature this engine lacks
   * @throws IOException if the file cannot be read
   */
  public static CheckResult run(Path image, int maxMessages) throws IOException {
    return walk(image, maxMessages, false).result;
  }

  /**
   * Repairs the image at {@code image} as {@code qemu-img check -r leaks|all} does: one check that
   * repairs what {@code mode} allows (freeing leaked clusters, fixing refcounts and {@code
   * OFLAG_COPIED} flags, rebuilding the refcount structure when a referenced cluster has refcount 0
   * or a refcount block is broken), then, if anything was repaired, a second check of the result.
   * The corrupt and dirty bits are cleared when the repairing check leaves no corruption and no
   * check error. Every write is first checked against the metadata the check found (the checks
   * of QEMU's default overlap-check mode {@code cached}); a write that would hit other metadata is
   * not done and ends the repair with a failure.
   *
   * <p>The image must not be open elsewhere (in this process or another) while it is repaired.
   *
   * @throws IllegalArgumentException if {@code maxMessages} is negative
   * @throws CorruptImageException if the header is so broken that the image cannot be opened
   * @throws UnsupportedFeatureException if the image uses a feature this engine lacks
   * @throws IOException if the file cannot be read or written
   */
  public static RepairResult repair(Path image, RepairMode mode, int maxMessages)
      throws IOException {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(mode, "mode");
    Preconditions.checkArgument(maxMessages >= 0, "maxMessages must be >= 0: %s", maxMessages);
    Qcow2Image.checkRegularFile(image); // as the check after it: nothing is opened for writing
    CheckPass pass;
    CheckResult repairPass;
    try (FileChannel channel =
        FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      pass = new CheckPass(channel, maxMessages, true, mode);
      repairPass = pass.run();
      channel.force(true);
    }
    RepairResult repaired = new RepairResult(repairPass, pass.leaksFixed(),
        pass.corruptionsFixed(), repairPass, pass.failure());
    if (pass.failure() != null || !repaired.repairedAnything()) {
      return repaired;
    }
    return new RepairResult(repairPass, pass.leaksFixed(), pass.corruptionsFixed(),
        run(image, maxMessages), null);
  }

  /** A finished check: the result and, when asked for, the metadata type mask of every cluster. */
  static final class Walk {
    final CheckResult result;
    final int clusterBits;
    final long fileLength;
    /** Mask of {@link MetadataType}s per cluster of the file; null unless asked for. */
    final short[] types;

    Walk(CheckResult result, int clusterBits, long fileLength, short[] types) {
      this.result = result;
      this.clusterBits = clusterBits;
      this.fileLength = fileLength;
      this.types = types;
    }
  }

  /**
   * Runs the check and, if {@code trackTypes}, records which metadata structures occupy each
   * cluster of the file: the structures an overlap check with mode {@code all} protects.
   */
  static Walk walk(Path image, int maxMessages, boolean trackTypes) throws IOException {
    Objects.requireNonNull(image, "image");
    Preconditions.checkArgument(maxMessages >= 0, "maxMessages must be >= 0: %s", maxMessages);
    Qcow2Image.checkRegularFile(image);
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.READ)) {
      CheckPass pass = new CheckPass(channel, maxMessages, trackTypes, null);
      CheckResult result = pass.run();
      return new Walk(result, pass.clusterBits(), pass.fileLength(), pass.types());
    }
  }
}
