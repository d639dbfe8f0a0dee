package io.qcow2.format;

import java.io.IOException;
import java.nio.channels.FileChannel;

/**
 * One pass of the check over an open image, as QEMU 7.2's {@code qcow2_check_refcounts()} runs
 * it: count the references ({@link ReferenceScan}), compare them with the stored refcounts ({@link
 * RefcountComparison}), fixing them or rebuilding the refcount structure ({@link RefcountRebuild})
 * when repairing, then check the COPIED flags ({@link CopiedFlagCheck}) and, after a clean repair,
 * clear the dirty and corrupt bits.
 */
final class CheckPass {
  private final CheckFile file;
  private final boolean trackTypes;
  /** What this pass may repair; null for a read-only check. */
  private final RepairMode fix;
  private final CheckReport report;

  private CheckedHeader header;
  private StoredRefcounts stored;
  private long[] activeL1;
  private BitmapCheck bitmaps;
  private ClusterReferences references;
  private ReferenceScan scan;

  CheckPass(FileChannel channel, int maxMessages, boolean trackTypes, RepairMode fix)
      throws IOException {
    this.file = new CheckFile(channel);
    this.trackTypes = trackTypes || fix != null;
    this.fix = fix;
    this.report = new CheckReport(maxMessages);
  }

  /**
   * Runs the pass.
   *
   * @throws CorruptImageException if {@code qemu-img check} could not open the image either
   * @throws UnsupportedFeatureException if the image uses a feature this engine lacks
   */
  CheckResult run() throws IOException {
    header = CheckedHeader.read(file);
    stored = new StoredRefcounts(file, header);
    activeL1 = file.readTable(header.l1Offset, header.l1Size);
    bitmaps = BitmapCheck.load(file, header);
    countReferences(fix);
    long highestCluster = -1;
    if (!report.walkFailed) {
      highestCluster = fix == null
          ? new RefcountComparison(stored, references, report).run(null)
          : compareAndRepair();
    }
    if (!report.walkFailed && report.failure == null) {
      CopiedFlagCheck.run(file, header, activeL1, stored, references, report, fix);
    }
    if (fix != null && report.failure == null && !report.walkFailed && report.checkErrors == 0
        && report.corruptions == 0) {
      markClean();
    }
    long totalClusters = (header.diskLength() + header.clusterSize - 1) >>> header.clusterBits;
    long imageEnd = report.walkFailed ? 0 : (Math.max(highestCluster, 0) + 1) << header.clusterBits;
    return new CheckResult(report.corruptions, report.leaks, report.checkErrors,
        report.messages(), report.messageCount(), imageEnd, scan.allocatedClusters,
        totalClusters, scan.fragmentedClusters, scan.compressedClusters);
  }

  /** Counts every reference afresh, for the file as it is now. */
  private void countReferences(RepairMode repairing) throws IOException {
    file.refreshLength();
    references = new ClusterReferences(file, header, report, trackTypes);
    scan = new ReferenceScan(file, header, stored, references, report);
    scan.run(activeL1, bitmaps, repairing);
  }

  /**
   * The repairing half of {@code qcow2_check_refcounts()}: compares, then fixes refcounts one by
   * one or rebuilds the whole refcount structure. Returns the highest cluster in use.
   */
  private long compareAndRepair() throws IOException {
    CheckReport.Counts beforeCompare = report.counts();
    long highest = new RefcountComparison(stored, references, report).run(null);
    if (report.rebuild && fix == RepairMode.ALL) {
      return rebuild(highest);
    }
    if (report.rebuild) {
      report.message("ERROR need to rebuild refcount structures");
      report.checkErrors++;
      report.failure = "Input/output error";
    } else if (report.leaks > 0 || report.corruptions > 0) {
      report.restore(beforeCompare);
      highest = new RefcountComparison(stored, references, report).run(fix);
    }
    return highest;
  }

  private long rebuild(long highestBefore) throws IOException {
    CheckReport.Counts beforeRebuild = report.counts();
    report.message("Rebuilding refcount structure");
    if (!new RefcountRebuild(file, header, references, stored, report).run()) {
      return highestBefore;
    }
    report.corruptions = 0;
    report.leaks = 0;
    // The old refcount structure is now leaked: count again and free it.
    report.rebuild = false;
    countReferences(null);
    if (report.walkFailed) {
      return -1;
    }
    // What this pass fixes is the old structure, not what the image had: QEMU does not count it
    // as fixed, only what it could not free as leaks.
    CheckReport.Counts saved = report.counts();
    long savedLeaksFixed = report.leaksFixed;
    long savedCorruptionsFixed = report.corruptionsFixed;
    report.corruptions = 0;
    report.leaks = 0;
    long highest = new RefcountComparison(stored, references, report).run(RepairMode.LEAKS);
    if (report.rebuild) {
      report.message("ERROR rebuilt refcount structure is still broken");
    }
    long freshLeaks = report.leaks;
    report.restore(saved);
    report.leaksFixed = savedLeaksFixed;
    report.corruptionsFixed = savedCorruptionsFixed;
    if (report.corruptions < beforeRebuild.corruptions()) {
      report.corruptionsFixed += beforeRebuild.corruptions() - report.corruptions;
    }
    if (report.leaks < beforeRebuild.leaks()) {
      report.leaksFixed += beforeRebuild.leaks() - report.leaks;
    }
    report.leaks += freshLeaks;
    return highest;
  }

  /** {@code qcow2_mark_clean()} and {@code qcow2_mark_consistent()}: clears the two bits. */
  private void markClean() throws IOException {
    long cleared = header.incompatible & ~(Header.INCOMPAT_DIRTY | Header.INCOMPAT_CORRUPT);
    if (header.version >= 3 && cleared != header.incompatible) {
      file.writeLong(cleared, 72);
    }
  }

  long leaksFixed() {
    return report.leaksFixed;
  }

  long corruptionsFixed() {
    return report.corruptionsFixed;
  }

  /** Why a repair stopped, or null. */
  String failure() {
    return report.failure;
  }

  int clusterBits() {
    return header.clusterBits;
  }

  long fileLength() {
    return file.length();
  }

  /** The metadata type mask of every cluster of the file; null unless tracked. */
  short[] types() {
    return references.types();
  }
}
