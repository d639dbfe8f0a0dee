package io.qcow2.format;

import java.io.IOException;

/**
 * QEMU 7.2's {@code compare_refcounts()}: the counted references of every cluster against its
 * stored refcount. A stored refcount above the references is a leak, below them a corruption;
 * a comparison that may fix leaks ({@link RepairMode#LEAKS}) or both ({@link RepairMode#ALL})
 * writes the counted value into the refcount block, except where the stored refcount is 0 (no
 * block to fix it in, or one the check cannot trust): that needs the refcount structure rebuilt.
 */
final class RefcountComparison {
  private final StoredRefcounts stored;
  private final ClusterReferences references;
  private final CheckReport report;

  RefcountComparison(StoredRefcounts stored, ClusterReferences references, CheckReport report) {
    this.stored = stored;
    this.references = references;
    this.report = report;
  }

  /**
   * Compares every cluster counted, past the end of the file as far as a reference reached;
   * fixes what {@code fixing} allows (null: nothing). Returns the highest cluster with a refcount
   * or a reference, -1 if none.
   */
  long run(RepairMode fixing) throws IOException {
    long highest = -1;
    for (long cluster = 0; cluster < references.clusters(); cluster++) {
      long refcount = stored.get(cluster);
      if (refcount == StoredRefcounts.UNREADABLE) {
        report.checkErrors++;
        report.message("Can't get refcount for cluster %d: Input/output error", cluster);
        continue;
      }
      long reference = references.count(cluster);
      if (refcount != 0 || reference != 0) {
        highest = cluster;
      }
      if (refcount != reference) {
        mismatch(cluster, refcount, reference, fixing);
      }
    }
    return highest;
  }

  private void mismatch(long cluster, long refcount, long reference, RepairMode fixing)
      throws IOException {
    boolean low = Long.compareUnsigned(refcount, reference) < 0;
    boolean repair = false;
    if (refcount == 0) {
      report.rebuild = true;
    } else if (fixing != null) {
      repair = !low || fixing == RepairMode.ALL;
    }
    report.message("%s cluster %d refcount=%s reference=%d",
        repair ? "Repairing" : low ? "ERROR" : "Leaked", cluster,
        Long.toUnsignedString(refcount), reference);
    if (repair && stored.set(cluster, reference, references)) {
      if (low) {
        report.corruptionsFixed++;
      } else {
        report.leaksFixed++;
      }
    } else if (low) {
      report.corruptions++;
    } else {
      report.leaks++;
    }
  }
}
