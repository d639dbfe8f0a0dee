package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.ReferenceModel;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 12, W1: structures allocated at the end of the file are appended to a window's list in
 * place (spare room in one growing array, index entries set as chunks are reached), structures
 * allocated just before the last one are spliced in place, and a rewrite elsewhere updates the
 * chunk index incrementally. Randomised against the reference model, with {@code validate()} (which
 * compares the list, its index and the byte counts with a rebuild) after every step.
 */
class AppendTest {
  private static final int CLUSTER_BITS = 9;
  private static final int[] TYPES = {MetadataType.ACTIVE_L2.mask(), MetadataType.REFCOUNT_BLOCK.mask(),
      MetadataType.ACTIVE_L2.mask() | MetadataType.INACTIVE_L2.mask(), MetadataType.SNAPSHOT_TABLE.mask()};

  @ParameterizedTest(name = "W={0}, cache={1}, seed={2}")
  @CsvSource({"64, 128, 1", "4096, 8192, 2", "4096, 65536, 3", "65536, 8192, 4", "65536, 65536, 5"})
  void appendsSplicesAndRewritesAgreeWithTheModel(int windowSize, long cacheBytes, long seed) {
    WindowedOverlapChecker checker = Checkers.create(CLUSTER_BITS, windowSize, cacheBytes);
    ReferenceModel model = new ReferenceModel(new OverlapCheckerSetup(CLUSTER_BITS, MetadataType.ALL_MASK,
        io.qcow2.overlap.MetadataView.EMPTY,
        Map.of(OverlapCheckerSetup.WINDOW_SIZE, Integer.toString(windowSize))));
    SplittableRandom random = new SplittableRandom(seed);
    long end = 0;   // the "end of the file": where the next structure is allocated
    int maxRun = checker.fragmentList().maxRun();
    for (int step = 0; step < 6000; step++) {
      int kind = random.nextInt(20);
      long first;
      long count;
      int types = TYPES[random.nextInt(TYPES.length)];
      if (kind < 14) {
        // Allocation at the end: touching the previous structure, or after some data clusters.
        first = end + (random.nextInt(3) == 0 ? 0 : random.nextInt(70));
        count = random.nextInt(10) == 0 ? 1 + random.nextInt(3 * maxRun) : 1 + random.nextInt(4);
        end = first + count;
        apply(checker, model, true, first, count, types, seed, step);
      } else if (kind < 18) {
        // Just before the last structure, or a removal near the end.
        first = Math.max(0, end - 1 - random.nextInt(200));
        count = 1 + random.nextInt(3);
        apply(checker, model, kind < 16, first, count, types, seed, step);
      } else {
        // Anywhere before: a rewrite in the middle of a long list.
        first = end == 0 ? 0 : random.nextLong(end);
        count = 1 + random.nextInt(8);
        apply(checker, model, kind == 18, first, count, types, seed, step);
      }
      for (int i = 0; i < 4; i++) {
        long offset = random.nextLong((end + 100) << CLUSTER_BITS);
        long length = 1 + random.nextInt(random.nextBoolean() ? 512 : 1 << 16);
        assertEquals(model.check(offset, length, 0), checker.check(offset, length, 0),
            String.format("check(0x%x, %d) after step %d, seed %d", offset, length, step, seed));
      }
    }
    assertTrue(checker.fragmentCount() > 1000, "long lists: " + checker.fragmentCount() + " fragments");
    Checkers.idle(checker);
    checker.validate();
    for (long cluster = 0; cluster < end; cluster++) {
      assertEquals(model.check(cluster << CLUSTER_BITS, 1, 0), checker.check(cluster << CLUSTER_BITS, 1, 0),
          "cluster " + cluster + ", seed " + seed);
    }
    MemoryAccountingTest.assertAgrees(checker, "after appends");
  }

  private static void apply(WindowedOverlapChecker checker, ReferenceModel model, boolean enter, long first,
      long count, int types, long seed, int step) {
    if (enter) {
      checker.enter(first << CLUSTER_BITS, count, types);
      model.enter(first << CLUSTER_BITS, count, types);
    } else {
      checker.remove(first << CLUSTER_BITS, count, types);
      model.remove(first << CLUSTER_BITS, count, types);
    }
    try {
      checker.validate();
    } catch (IllegalStateException e) {
      throw new AssertionError(String.format("step %d (%s %d+%d types 0x%x), seed %d: %s", step,
          enter ? "enter" : "remove", first, count, types, seed, e.getMessage()), e);
    }
  }
}
