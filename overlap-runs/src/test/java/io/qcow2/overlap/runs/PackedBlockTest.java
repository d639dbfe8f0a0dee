package io.qcow2.overlap.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The block codec: type masks fit the palette, and every head form decodes to the runs it packed. */
class PackedBlockTest {
  private static final long SEED = 0x9A1E77EL;

  /**
   * Fails when metadata types are added beyond what the codec can hold: a palette slot and a raw
   * type code are {@link PackedBlock#PALETTE_SLOT_BITS} bits at most. Widen the palette (fewer,
   * wider slots, or a second word) before adding a 17th type.
   */
  @Test
  void everyTypeMaskFitsAPaletteSlot() {
    assertEquals(MetadataType.values().length, PackedBlock.TYPE_BITS);
    assertTrue(PackedBlock.TYPE_BITS <= PackedBlock.PALETTE_SLOT_BITS, () -> String.format(
        "%d metadata types, palette slots of %d bits", PackedBlock.TYPE_BITS, PackedBlock.PALETTE_SLOT_BITS));
    assertTrue((long) MetadataType.ALL_MASK < 1L << PackedBlock.PALETTE_SLOT_BITS);
    assertEquals(Long.SIZE, PackedBlock.PALETTE_SIZE * PackedBlock.PALETTE_SLOT_BITS);
  }

  /** Four masks using the highest type bit go through the palette; five take raw codes. */
  @ParameterizedTest(name = "{0} distinct masks")
  @ValueSource(ints = {1, 2, 3, 4, 5, 9})
  void masksWithTheHighestTypeBitRoundTrip(int distinctMasks) {
    int highest = 1 << (PackedBlock.TYPE_BITS - 1);
    RunList runs = new RunList(64);
    for (int i = 0; i < 64; i++) {
      int mask = i % distinctMasks == 0 ? MetadataType.ALL_MASK : highest | (1 << (i % distinctMasks - 1));
      runs.add(100L + 65 * i, 101L + 65 * i, mask);
    }
    assertRoundTrip(runs);
  }

  /** Regular and irregular layouts, near and far apart: compact heads, with and without the window, and full heads. */
  @ParameterizedTest(name = "gap scale 2^{0}")
  @ValueSource(ints = {0, 6, 12, 19, 21, 30, 40})
  void randomBlocksRoundTripAndAnswerLookups(int gapBits) {
    SplittableRandom random = new SplittableRandom(SEED ^ gapBits);
    int fullHeads = 0;
    int windowAnswers = 0;
    for (int trial = 0; trial < 200; trial++) {
      int count = 1 + random.nextInt(PackedBlock.MAX_RUNS);
      RunList runs = new RunList(count);
      long cluster = random.nextLong(1L << 40);
      // Regular blocks (fixed gap, one-cluster runs of two types) take the window path where the
      // gap is small; irregular ones have wide residuals, lengths and raw type codes.
      boolean regular = random.nextBoolean();
      for (int i = 0; i < count; i++) {
        long gap = regular ? 1L << gapBits : 1 + random.nextLong(1L << gapBits);
        long length = !regular && random.nextInt(8) == 0 ? 1 + random.nextInt(20) : 1;
        int types = regular ? 1 + random.nextInt(2) : 1 + random.nextInt(MetadataType.ALL_MASK);
        cluster += gap;
        runs.add(cluster, cluster + length, types);
        cluster += length;
      }
      long[] head = new long[PackedBlock.HEAD_WORDS];
      // As the checker stores blocks: behind other words, with a spare word after.
      long[] packed = PackedBlock.encode(runs, 0, count, head, 0);
      int from = 1 + random.nextInt(3);
      long[] block = new long[from + packed.length + 2];
      System.arraycopy(packed, 0, block, from, packed.length);
      assertRoundTrip(runs);
      fullHeads += head[0] == 0 && head[1] == 0 ? 1 : 0;
      for (int probe = 0; probe < 64; probe++) {
        int i = random.nextInt(count);
        long at = runs.start(i) + random.nextLong(Math.max(1, (i + 1 < count ? runs.start(i + 1) : runs.end(i) + 64) - runs.start(i)));
        int expected = at < runs.end(i) ? runs.types(i) : 0;
        long[] span = new long[3];
        int general = PackedBlock.unionOverlapping(head, 0, block, from, at, at, MetadataType.ALL_MASK, span);
        assertEquals(expected, general, () -> "general path at " + at + ", seed " + SEED + " gap bits " + gapBits);
        int window = PackedBlock.typesWithinOneRun(head, 0, block, from, at, at, null);
        assertTrue(window == -1 || window == expected, () -> "window path at " + at + ", seed " + SEED);
        windowAnswers += window >= 0 ? 1 : 0;
      }
    }
    // Each head form is exercised where it applies: near runs get compact heads and the window,
    // runs 2^30 or more apart get full heads.
    assertTrue(gapBits > 12 || windowAnswers > 0, "the window path never answered");
    assertTrue(gapBits < 30 || fullHeads > 0, "no block got a full head");
  }

  private static void assertRoundTrip(RunList runs) {
    long[] head = new long[PackedBlock.HEAD_WORDS];
    long[] packed = PackedBlock.encode(runs, 0, runs.size(), head, 0);
    long[] block = Arrays.copyOf(packed, packed.length + 2);
    assertEquals(runs.size(), PackedBlock.count(head, 0, block, 0));
    RunList decoded = new RunList(runs.size());
    PackedBlock.decodeInto(head, 0, block, 0, decoded);
    assertEquals(runs.size(), decoded.size());
    for (int i = 0; i < runs.size(); i++) {
      int run = i;
      assertEquals(runs.start(i), decoded.start(i), () -> "start of run " + run);
      assertEquals(runs.end(i), decoded.end(i), () -> "end of run " + run);
      assertEquals(runs.types(i), decoded.types(i), () -> "types of run " + run);
    }
  }
}
