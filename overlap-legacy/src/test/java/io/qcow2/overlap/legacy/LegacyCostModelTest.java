package io.qcow2.overlap.legacy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.CountingMetadataView;
import io.qcow2.overlap.tck.SimulatedImage;
import java.io.UncheckedIOException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The cost model, measured as counts of what a check reads through the view (not time): every
 * check visits every active L1 and refcount table entry, and with {@code overlap-check=all} reads
 * every snapshot's L1 table.
 */
class LegacyCostModelTest {
  private static final int CLUSTER_BITS = 9;
  private static final int CHECKS = 10;

  private static OverlapChecker checker(MetadataView view, int enabledMask) {
    return new LegacyOverlapChecker(
        new OverlapCheckerSetup(CLUSTER_BITS, enabledMask, view, Map.of()));
  }

  /** Entries visited by one check of a cluster beyond all metadata, and of one that hits. */
  private static long[] visitsPerCheck(SimulatedImage image) {
    CountingMetadataView view = new CountingMetadataView(image);
    OverlapChecker checker = checker(view, OverlapCheckMode.CACHED.mask());
    long miss = image.hostClusters() << CLUSTER_BITS;
    assertEquals(0, checker.check(miss, 1, 0));
    assertEquals(image.activeL1Size(), view.activeL1EntryReads());
    assertEquals(image.refcountTableSize(), view.refcountTableEntryReads());
    long missVisits = view.entriesVisited();
    view.reset();
    long firstL2 = image.activeL1Entry(0) & MetadataView.L1_OFFSET_MASK;
    assertEquals(MetadataType.ACTIVE_L2.mask(), checker.check(firstL2, 1, 0));
    return new long[] {missVisits, view.entriesVisited()};
  }

  @Test
  void entriesVisitedGrowLinearlyWithTheTables() {
    long previous = 0;
    for (int l2Tables = 1024; l2Tables <= 16384; l2Tables *= 2) {
      SimulatedImage image = SimulatedImage.withL2Tables(CLUSTER_BITS, l2Tables);
      long[] visits = visitsPerCheck(image);
      assertEquals(visits[0], visits[1], "a hit costs the full scan, like a miss");
      assertEquals((long) image.activeL1Size() + image.refcountTableSize(), visits[0]);
      if (previous > 0) {
        double ratio = (double) visits[0] / previous;
        assertTrue(ratio > 1.9 && ratio < 2.1,
            "doubling the tables from " + l2Tables / 2 + " L2 tables: ratio " + ratio);
      }
      previous = visits[0];
    }
  }

  @Test
  void growingTheL1TableGrowsTheScan() {
    SimulatedImage image = SimulatedImage.withL2Tables(CLUSTER_BITS, 1000);
    CountingMetadataView view = new CountingMetadataView(image);
    OverlapChecker checker = checker(view, MetadataType.ACTIVE_L2.mask());
    checker.check(0, 1, 0);
    assertEquals(1000, view.activeL1EntryReads());
    image.growL1(2000);
    view.reset();
    checker.check(0, 1, 0);
    assertEquals(2000, view.activeL1EntryReads());
    assertEquals(0, view.refcountTableEntryReads(), "refcount blocks are not enabled");
  }

  private static SimulatedImage imageWithSnapshots(int snapshots) {
    SimulatedImage image = new SimulatedImage(CLUSTER_BITS);
    for (int i = 0; i < 40; i++) {
      image.allocateL2(i);
    }
    for (int i = 0; i < snapshots; i++) {
      image.addSnapshot();
      image.allocateL2(0);
    }
    image.validate();
    return image;
  }

  @Test
  void overlapCheckAllReadsEverySnapshotL1TableOnEveryCheck() {
    SimulatedImage image = imageWithSnapshots(3);
    long snapshotEntries = 0;
    for (int i = 0; i < image.snapshotCount(); i++) {
      snapshotEntries += image.snapshotL1Size(i);
    }
    CountingMetadataView view = new CountingMetadataView(image);
    OverlapChecker checker = checker(view, OverlapCheckMode.ALL.mask());
    for (int i = 0; i < CHECKS; i++) {
      checker.check((long) i << CLUSTER_BITS, 4096, 0);
    }
    assertEquals(3L * CHECKS, view.snapshotL1TableReads());
    assertEquals(snapshotEntries * CHECKS, view.snapshotL1EntriesRead());
    assertEquals((long) CHECKS * image.activeL1Size(), view.activeL1EntryReads());
  }

  @Test
  void cachedAndIgnoredInactiveL2ReadNoSnapshotL1Table() {
    SimulatedImage image = imageWithSnapshots(3);
    CountingMetadataView view = new CountingMetadataView(image);
    OverlapChecker cached = checker(view, OverlapCheckMode.CACHED.mask());
    OverlapChecker all = checker(view, OverlapCheckMode.ALL.mask());
    for (int i = 0; i < CHECKS; i++) {
      cached.check((long) i << CLUSTER_BITS, 4096, 0);
      all.check((long) i << CLUSTER_BITS, 4096, MetadataType.INACTIVE_L2.mask());
    }
    assertEquals(0, view.snapshotL1TableReads());
  }

  @Test
  void constantModeVisitsNoEntries() {
    SimulatedImage image = imageWithSnapshots(2);
    CountingMetadataView view = new CountingMetadataView(image);
    OverlapChecker checker = checker(view, OverlapCheckMode.CONSTANT.mask());
    for (int i = 0; i < CHECKS; i++) {
      checker.check((long) i << CLUSTER_BITS, 1 << 20, 0);
    }
    assertEquals(0, view.entriesVisited());
    assertEquals(0, view.snapshotL1TableReads());
  }

  @Test
  void unreadableSnapshotL1TableIsAnErrorNamingTheSnapshot() {
    SimulatedImage image = imageWithSnapshots(2);
    image.setFailSnapshotReads(true);
    OverlapChecker all = checker(image, OverlapCheckMode.ALL.mask());
    long far = (image.hostClusters() + 10) << CLUSTER_BITS;
    UncheckedIOException e =
        assertThrows(UncheckedIOException.class, () -> all.check(far, 1, 0));
    assertTrue(e.getMessage().contains(image.snapshotName(0)), e.getMessage());
    assertTrue(e.getMessage().contains(Long.toHexString(image.snapshotL1Offset(0))),
        e.getMessage());
    OverlapChecker cached = checker(image, OverlapCheckMode.CACHED.mask());
    assertEquals(0, cached.check(far, 1, 0));
    assertEquals(0, all.check(far, 1, MetadataType.INACTIVE_L2.mask()));
  }
}
