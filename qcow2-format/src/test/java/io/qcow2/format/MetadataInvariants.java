package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * The engine's self-check for tests: the checker knows every metadata cluster found by scanning
 * the image's live tables, and no data cluster carries a stale metadata type.
 */
final class MetadataInvariants {
  private MetadataInvariants() {}

  static void verify(Qcow2Image image) throws IOException {
    OverlapChecker checker = image.overlapChecker().orElse(null);
    if (checker == null) {
      return;
    }
    Header h = image.header();
    int bits = h.clusterBits;
    Map<Long, Integer> expected = new HashMap<>();
    put(expected, 0, 1, MetadataType.MAIN_HEADER);
    long[] l1 = image.activeL1();
    put(expected, h.l1Offset >>> bits, (l1.length * 8L + h.clusterSize - 1) >>> bits, MetadataType.ACTIVE_L1);
    put(expected, h.refcountTableOffset >>> bits, h.refcountTableClusters, MetadataType.REFCOUNT_TABLE);
    for (long e : image.refcountTable()) {
      long off = e & MetadataView.REFCOUNT_TABLE_OFFSET_MASK;
      if (off != 0) {
        put(expected, off >>> bits, 1, MetadataType.REFCOUNT_BLOCK);
      }
    }
    Map<Long, Boolean> data = new HashMap<>();
    for (long e : l1) {
      long off = e & TableEntry.L1_OFFSET_MASK;
      if (off != 0) {
        put(expected, off >>> bits, 1, MetadataType.ACTIVE_L2);
        for (long d : image.readL2Table(off)) {
          if (ActiveTables.kind(d) == Extent.Kind.DATA) {
            data.put((d & TableEntry.L2_OFFSET_MASK) >>> bits, true);
          }
        }
      }
    }
    int enabled = checker.enabledMask();
    for (Map.Entry<Long, Integer> m : expected.entrySet()) {
      int want = m.getValue() & enabled;
      int got = checker.check(m.getKey() << bits, 1, 0) & want;
      assertEquals(want, got, String.format("cluster 0x%x should hold %s, checker has %s",
          m.getKey() << bits, MetadataType.describe(want), MetadataType.describe(got)));
    }
    for (long cluster : data.keySet()) {
      if (expected.containsKey(cluster)) {
        fail(String.format("data cluster 0x%x is also metadata %s", cluster << bits,
            MetadataType.describe(expected.get(cluster))));
      }
      // Snapshot structures may legitimately overlap nothing here; without snapshots a data
      // cluster must carry no type at all.
      if (image.snapshots().isEmpty()) {
        int stale = checker.check(cluster << bits, 1, 0);
        assertEquals(0, stale, String.format("data cluster 0x%x carries stale types %s",
            cluster << bits, MetadataType.describe(stale)));
      }
    }
  }

  private static void put(Map<Long, Integer> map, long first, long count, MetadataType type) {
    for (long c = first; c < first + count; c++) {
      map.merge(c, type.mask(), (a, b) -> a | b);
    }
  }
}
