package io.qcow2.overlap.runs;

import io.qcow2.overlap.MetadataType;

/**
 * The codec of one block: up to {@value #MAX_RUNS} consecutive runs, described by {@value
 * #HEAD_WORDS} head words (which the caller keeps in its index, {@code heads[at..at + 3]}) and a
 * {@code long[]} of bit-packed records.
 *
 * <pre>
 * head 0: palette (3 x 11 bits) | count (8) &lt;&lt; 33 | startWidth (6) &lt;&lt; 41
 *         | lengthWidth (6) &lt;&lt; 47 | typeWidth (4) &lt;&lt; 53
 * head 1: slope (48 bits) | spread (16) &lt;&lt; 48
 * head 2: base, the start predicted for run 0 less the largest negative deviation
 * head 3: ceil(2^62 / slope), the reciprocal for a multiply-high (0 when slope is 0)
 * records, bit-packed from bit 0: residual (startWidth bits), length - 1 (lengthWidth bits), type
 * code (typeWidth bits); then one spare word, so that every field is read with two loads and no
 * branch
 * </pre>
 *
 * <p>Run {@code i} starts at {@code base + i * slope + residual[i]}: starts are predicted by the
 * straight line through the first and last start, and only the deviation is stored (a frame of
 * reference around a linear predictor), so a regular layout such as "an L2 table every 65 clusters"
 * costs a few bits per run wherever it lies. The same line finds a run: the run at or before cluster
 * {@code c} has an index within {@code spread} of {@code (c - base) / slope}, so a lookup is one
 * multiply-high by the stored reciprocal (a quotient that may be one too large) and a search of at
 * most {@code spread + 2} records: when that fits in {@value #WINDOW}, {@value #WINDOW} independent
 * compares counted without a branch, else a branch-free binary search.
 *
 * <p>Type codes index the palette when a block holds at most three distinct masks (width 0, 1 or
 * 2 bits), else they are the 11-bit masks themselves (width 11). (With nine type bits the palette
 * held four masks; eleven leave room in the head word for three.)
 */
final class PackedBlock {
  /** Most runs one block holds (the count field's 8 bits). */
  static final int MAX_RUNS = 255;
  /** Words of a block's head, kept by the caller. */
  static final int HEAD_WORDS = 4;
  /** Records compared at once by a lookup in a block whose search window fits one 64-bit read. */
  static final int WINDOW = 7;
  /** Widest record for which {@value #WINDOW} records fit 64 bits. */
  private static final int WINDOW_RECORD_WIDTH = 64 / WINDOW;

  private static final int TYPE_BITS = 11;
  private static final int TYPE_MASK = (1 << TYPE_BITS) - 1;
  private static final int PALETTE_SIZE = 3;
  private static final int COUNT_SHIFT = TYPE_BITS * PALETTE_SIZE;
  private static final int START_WIDTH_SHIFT = COUNT_SHIFT + 8;
  private static final int LENGTH_WIDTH_SHIFT = START_WIDTH_SHIFT + 6;
  private static final int TYPE_WIDTH_SHIFT = LENGTH_WIDTH_SHIFT + 6;
  private static final long SLOPE_MASK = (1L << 48) - 1;
  private static final int SPREAD_SHIFT = 48;

  static {
    assert MetadataType.ALL_MASK <= TYPE_MASK;
    assert TYPE_WIDTH_SHIFT + 4 <= Long.SIZE;
  }

  private PackedBlock() {}

  /**
   * Packs runs {@code [from, from + count)} of {@code runs} (1 to {@value #MAX_RUNS} runs): writes
   * the head to {@code heads[at..at + 3]} and returns the records.
   */
  static long[] encode(RunList runs, int from, int count, long[] heads, int at) {
    assert count >= 1 && count <= MAX_RUNS && from + count <= runs.size();
    long first = runs.start(from);
    long slope = count == 1 ? 0 : (runs.start(from + count - 1) - first) / (count - 1);
    long minDeviation = 0;
    long maxDeviation = 0;
    long maxLength = 0;
    long palette = 0;
    int paletteSize = 0;
    for (int i = 0; i < count; i++) {
      long deviation = runs.start(from + i) - first - i * slope;
      minDeviation = Math.min(minDeviation, deviation);
      maxDeviation = Math.max(maxDeviation, deviation);
      maxLength = Math.max(maxLength, runs.end(from + i) - runs.start(from + i) - 1);
      if (paletteSize <= PALETTE_SIZE && paletteIndex(palette, paletteSize, runs.types(from + i)) < 0) {
        if (paletteSize < PALETTE_SIZE) {
          palette |= (long) runs.types(from + i) << (TYPE_BITS * paletteSize);
        }
        paletteSize++;
      }
    }
    long offset = -minDeviation;
    long maxResidual = maxDeviation - minDeviation;
    int startWidth = width(maxResidual);
    int lengthWidth = width(maxLength);
    int typeWidth = paletteSize <= 1 ? 0 : paletteSize == 2 ? 1 : paletteSize <= PALETTE_SIZE ? 2 : TYPE_BITS;
    if (typeWidth == TYPE_BITS) {
      palette = 0;
    }
    // The run at or before c lies in [q - spread, q] for q = (c - base) / slope: see search.
    // Residuals span less than 3 * count * slope (starts rise by at least 1 per run), so spread
    // stays below 3 * MAX_RUNS and fits its 16 bits.
    long spread = slope == 0 ? 0 : (maxResidual + slope - 1) / slope;
    assert spread <= 3 * MAX_RUNS : spread;
    long bits = (long) count * (startWidth + lengthWidth + typeWidth);
    long[] block = new long[(int) (bits >>> 6) + 2];
    heads[at] = palette | (long) count << COUNT_SHIFT | (long) startWidth << START_WIDTH_SHIFT
        | (long) lengthWidth << LENGTH_WIDTH_SHIFT | (long) typeWidth << TYPE_WIDTH_SHIFT;
    heads[at + 1] = slope | spread << SPREAD_SHIFT;
    heads[at + 2] = first - offset;
    heads[at + 3] = slope == 0 ? 0 : ((1L << 62) + slope - 1) / slope;
    int recordWidth = startWidth + lengthWidth + typeWidth;
    for (int i = 0; i < count; i++) {
      long start = runs.start(from + i);
      long record = (long) i * recordWidth;
      put(block, record, startWidth, start - first + offset - i * slope);
      put(block, record + startWidth, lengthWidth, runs.end(from + i) - start - 1);
      int types = runs.types(from + i);
      put(block, record + startWidth + lengthWidth, typeWidth,
          typeWidth == TYPE_BITS ? types : paletteIndex(palette, paletteSize, types));
    }
    return block;
  }

  /** The union of the types of runs {@code [from, from + count)}. */
  static int union(RunList runs, int from, int count) {
    int union = 0;
    for (int i = from; i < from + count; i++) {
      union |= runs.types(i);
    }
    return union;
  }

  /** Appends every run of the block with head {@code heads[at..]} and records {@code block} to {@code out}. */
  static void decodeInto(long[] heads, int at, long[] block, RunList out) {
    long header = heads[at];
    int count = (int) (header >>> COUNT_SHIFT) & 0xff;
    int startWidth = (int) (header >>> START_WIDTH_SHIFT) & 63;
    int lengthWidth = (int) (header >>> LENGTH_WIDTH_SHIFT) & 63;
    int typeWidth = (int) (header >>> TYPE_WIDTH_SHIFT) & 15;
    long slope = heads[at + 1] & SLOPE_MASK;
    long base = heads[at + 2];
    int recordWidth = startWidth + lengthWidth + typeWidth;
    for (int i = 0; i < count; i++) {
      long record = (long) i * recordWidth;
      long start = base + i * slope + get(block, record, startWidth);
      long length = 1 + get(block, record + startWidth, lengthWidth);
      int code = (int) get(block, record + startWidth + lengthWidth, typeWidth);
      out.add(start, start + length,
          typeWidth == TYPE_BITS ? code : (int) (header >>> (TYPE_BITS * code)) & TYPE_MASK);
    }
  }

  /** Runs in the block with head {@code heads[at..]}. */
  static int count(long[] heads, int at) {
    return (int) (heads[at] >>> COUNT_SHIFT) & 0xff;
  }

  /**
   * The fast path of {@link #unionOverlapping} for the common case: a block whose search window
   * fits one 64-bit read (see {@link #WINDOW}) and a range
   * {@code [low, high]} within one run or within the gap after it. Returns the run's types (0 in a
   * gap) and fills {@code span}, unless null, as {@code unionOverlapping} does, or returns -1 and
   * leaves {@code span} alone when it does not apply.
   */
  static int typesWithinOneRun(long[] heads, int at, long[] block, long low, long high, long[] span) {
    long header = heads[at];
    int count = (int) (header >>> COUNT_SHIFT) & 0xff;
    int startWidth = (int) (header >>> START_WIDTH_SHIFT) & 63;
    int lengthWidth = (int) (header >>> LENGTH_WIDTH_SHIFT) & 63;
    int typeWidth = (int) (header >>> TYPE_WIDTH_SHIFT) & 15;
    int recordWidth = startWidth + lengthWidth + typeWidth;
    long line = heads[at + 1];
    if (count < WINDOW || line >>> SPREAD_SHIFT > WINDOW - 2 || recordWidth > WINDOW_RECORD_WIDTH) {
      return -1;
    }
    // The window's records fit one 64-bit read: compare all of them at once (independent shifts,
    // compares summed without a branch) and decode the answer from the same bits, so a random
    // lookup waits for one cache line and not for one per bisection step.
    long slope = line & SLOPE_MASK;
    long base = heads[at + 2];
    long x = high - base;
    int first = Math.max(0, (int) Math.min(count - 1, quotient(x, heads[at + 3])) - (WINDOW - 1));
    long window = word(block, (long) first * recordWidth);
    long startMask = (1L << startWidth) - 1;
    long below = x - first * slope;
    int i = first;
    for (int j = 1; j < WINDOW; j++) {
      i += ((window >>> (j * recordWidth)) & startMask) <= below - j * slope ? 1 : 0;
    }
    assert (window & startMask) <= below : "window misses its low end";
    long record = window >>> ((i - first) * recordWidth);
    long start = base + i * slope + (record & startMask);
    long end = start + 1 + ((record >>> startWidth) & ((1L << lengthWidth) - 1));
    if (end <= low) {
      if (span != null) {
        span[0] = end;
        span[1] = i + 1 < count ? startAt(block, base, slope, recordWidth, startWidth, i + 1) : Long.MAX_VALUE;
        span[2] = 0;
      }
      return 0;
    }
    if (start > low || end <= high) {
      return -1;
    }
    int code = (int) (record >>> (startWidth + lengthWidth)) & ((1 << typeWidth) - 1);
    int types = typeWidth == TYPE_BITS ? code : (int) (header >>> (TYPE_BITS * code)) & TYPE_MASK;
    if (span != null) {
      span[0] = start;
      span[1] = end;
      span[2] = types;
    }
    return types;
  }

  /**
   * The union of the types of the runs of the block (head {@code heads[at..]}, records {@code
   * block}) that overlap clusters {@code [low, high]}, where {@code high} is at or after the block's
   * first start; the scan runs backwards
   * from the last run starting at or before {@code high} and stops once {@code wanted} is complete.
   *
   * <p>When the range lies within one run or within the gap after one, {@code span} receives that
   * run's or gap's clusters {@code [span[0], span[1])} and its types {@code span[2]}, everything a
   * later check inside it needs; {@code span[1]} is {@link Long#MAX_VALUE} for the gap after the
   * block's last run (the caller knows where the next block starts). Otherwise {@code span} is
   * left alone.
   */
  static int unionOverlapping(
      long[] heads, int at, long[] block, long low, long high, int wanted, long[] span) {
    long header = heads[at];
    int count = (int) (header >>> COUNT_SHIFT) & 0xff;
    int startWidth = (int) (header >>> START_WIDTH_SHIFT) & 63;
    int lengthWidth = (int) (header >>> LENGTH_WIDTH_SHIFT) & 63;
    int typeWidth = (int) (header >>> TYPE_WIDTH_SHIFT) & 15;
    int recordWidth = startWidth + lengthWidth + typeWidth;
    long line = heads[at + 1];
    long slope = line & SLOPE_MASK;
    long spread = line >>> SPREAD_SHIFT;
    long base = heads[at + 2];
    int i = slope == 0 ? 0
        : bisect(block, count, recordWidth, startWidth, slope, spread, base, heads[at + 3], high);
    long record = (long) i * recordWidth;
    long start = base + i * slope + get(block, record, startWidth);
    long end = start + 1 + get(block, record + startWidth, lengthWidth);
    int code = (int) get(block, record + startWidth + lengthWidth, typeWidth);
    if (end <= low) {
      span[0] = end;
      span[1] = i + 1 < count ? startAt(block, base, slope, recordWidth, startWidth, i + 1) : Long.MAX_VALUE;
      span[2] = 0;
      return 0;
    }
    int found = typeWidth == TYPE_BITS ? code : (int) (header >>> (TYPE_BITS * code)) & TYPE_MASK;
    if (start <= low) {
      if (high < end) {
        span[0] = start;
        span[1] = end;
        span[2] = found;
      }
      return found;
    }
    return unionBefore(header, block, i, recordWidth, startWidth, lengthWidth, typeWidth, slope, base,
        low, wanted, found);
  }

  /** Adds the types of runs before run {@code i} that reach into {@code [low, ...)}, until {@code wanted}. */
  private static int unionBefore(long header, long[] block, int i, int recordWidth, int startWidth,
      int lengthWidth, int typeWidth, long slope, long base, long low, int wanted, int found) {
    while ((found & wanted) != wanted && --i >= 0) {
      long record = (long) i * recordWidth;
      long start = base + i * slope + get(block, record, startWidth);
      if (start + 1 + get(block, record + startWidth, lengthWidth) <= low) {
        break;
      }
      int code = (int) get(block, record + startWidth + lengthWidth, typeWidth);
      found |= typeWidth == TYPE_BITS ? code : (int) (header >>> (TYPE_BITS * code)) & TYPE_MASK;
      if (start <= low) {
        break;
      }
    }
    return found;
  }

  /**
   * {@code x / slope} or one more, from the stored {@code ceil(2^62 / slope)}: the error of the
   * multiply-high, {@code x / 2^62} for {@code x < 2^50}, stays below one.
   */
  private static long quotient(long x, long reciprocal) {
    assert x >= 0 && x < 1L << 50 : x;
    return Math.multiplyHigh(x << 2, reciprocal);
  }

  /** The last run starting at or before {@code cluster}, by a branch-free binary search of its window. */
  private static int bisect(long[] block, int count, int recordWidth, int startWidth, long slope,
      long spread, long base, long reciprocal, long cluster) {
    // start[i] lies in [base + i * slope, base + i * slope + maxResidual], so the answer j satisfies
    // j <= q = (cluster - base) / slope, and every i <= q - spread starts at or before cluster; with
    // the quotient q or q + 1, j lies in [quotient - 1 - spread, quotient].
    long quotient = quotient(cluster - base, reciprocal);
    int high = (int) Math.min(count - 1, quotient);
    int low = (int) Math.max(0, Math.min(high, quotient - 1 - spread));
    assert startAt(block, base, slope, recordWidth, startWidth, low) <= cluster : "window misses its low end";
    // The trip count depends only on the window, and the select compiles to a conditional move, so
    // random lookups do not pay a mispredicted branch per step.
    for (int n = high - low + 1; n > 1; ) {
      int half = n >>> 1;
      int middle = low + half;
      low = startAt(block, base, slope, recordWidth, startWidth, middle) <= cluster ? middle : low;
      n -= half;
    }
    return low;
  }

  private static long startAt(
      long[] block, long base, long slope, int recordWidth, int startWidth, int i) {
    return base + i * slope + get(block, (long) i * recordWidth, startWidth);
  }

  private static int paletteIndex(long palette, int paletteSize, int types) {
    for (int i = 0; i < Math.min(paletteSize, PALETTE_SIZE); i++) {
      if (((palette >>> (TYPE_BITS * i)) & TYPE_MASK) == types) {
        return i;
      }
    }
    return -1;
  }

  /** Bits needed for values 0..max; 0 when max is 0. */
  private static int width(long max) {
    return 64 - Long.numberOfLeadingZeros(max);
  }

  /** The {@code width}-bit field at {@code bit} of the payload; the spare word keeps both loads in bounds. */
  private static long get(long[] block, long bit, int width) {
    return word(block, bit) & ((1L << width) - 1);
  }

  /** The 64 bits from {@code bit} of the payload on (bits past the payload's end are zero). */
  private static long word(long[] block, long bit) {
    int word = (int) (bit >>> 6);
    int shift = (int) bit & 63;
    // (x << 1) << (63 - shift) is x << (64 - shift), and 0 for shift 0, which a single shift is not.
    return (block[word] >>> shift) | ((block[word + 1] << 1) << (63 - shift));
  }

  private static void put(long[] block, long bit, int width, long value) {
    if (width == 0) {
      return;
    }
    assert value >= 0 && value >>> width == 0 : value + " in " + width + " bits";
    int word = (int) (bit >>> 6);
    int shift = (int) bit & 63;
    block[word] |= value << shift;
    if (shift + width > 64) {
      block[word + 1] |= value >>> (64 - shift);
    }
  }
}
