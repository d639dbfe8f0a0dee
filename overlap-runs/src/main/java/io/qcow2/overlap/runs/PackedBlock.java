package io.qcow2.overlap.runs;

import io.qcow2.overlap.MetadataType;

/**
 * The codec of one block: up to {@value #MAX_RUNS} consecutive runs, described by a {@value
 * #HEAD_WORDS}-word head (which the caller keeps in its index, {@code heads[at..at + 1]}) and a
 * {@code long[]} holding the block's palette, for some blocks a full head, and the bit-packed
 * records.
 *
 * <pre>
 * compact head (count != 0), everything a lookup needs before it reads a record:
 *   head 0: base + 2^47 (48 bits) | count (8) &lt;&lt; 48 | startWidth (4) &lt;&lt; 56 | lengthWidth (4) &lt;&lt; 60
 *   head 1: ceil(2^29 / slope) (32 bits, 0 when slope is 0) | slope (20, in 2^-fraction clusters) &lt;&lt; 32
 *           | type width code (2) &lt;&lt; 52 | spread (3) &lt;&lt; 54 | record width (4) &lt;&lt; 57 | window flag &lt;&lt; 61
 *           | fraction / 2 (2) &lt;&lt; 62
 *   block:  palette word, records
 * full head (blocks whose fields do not fit the compact one; rare, e.g. runs millions of clusters apart):
 *   head 0 and 1: zero
 *   block:  palette word, count (8) | startWidth (7) &lt;&lt; 8 | lengthWidth (7) &lt;&lt; 15 | typeWidth (5) &lt;&lt; 22
 *           | spread (16) &lt;&lt; 27, slope, base, ceil(2^62 / slope), records
 * palette word: up to {@value #PALETTE_SIZE} type masks of {@value #PALETTE_SLOT_BITS} bits (0 when the
 *   codes are raw masks)
 * records, bit-packed: residual (startWidth bits), length - 1 (lengthWidth bits), type code
 *   (typeWidth bits), in whole words
 * </pre>
 *
 * <p>The caller stores blocks back to back in one {@code long[]} and passes each block's first
 * word ({@code from}); it keeps two zero words after the last block, so that every field is read
 * with two loads and no branch (a read past a block's records sees the next block's words, which
 * the masks drop).
 *
 * <p>Run {@code i} starts at {@code base + ((i * slope) >>> fraction) + residual[i]}: starts are
 * predicted by the straight line through the first and last start, and only the deviation is stored
 * (a frame of reference around a linear predictor), so a regular layout such as "an L2 table every 65
 * clusters" costs a few bits per run wherever it lies. A compact head's slope keeps up to six
 * fraction bits (0, 2, 4 or 6, as many as its 20 bits allow); a full head's is integral. The same
 * line finds a run: the run at or before cluster {@code c} has an index within {@code spread} of the
 * last run whose line lies at or before c, so a lookup is one multiplication by the stored reciprocal
 * (a quotient that may be one too large) and a search of at most {@code spread + 2} records: when
 * the head's window flag is set, {@value #WINDOW} records of one 64-bit read compared at once and
 * counted without a branch, else a branch-free binary search.
 *
 * <p>Type codes index the palette when a block holds at most {@value #PALETTE_SIZE} distinct masks
 * (width 0, 1 or 2 bits), else they are the raw masks ({@link #TYPE_BITS} bits, one per metadata
 * type).
 */
final class PackedBlock {
  /** Most runs one block holds (the count field's 8 bits). */
  static final int MAX_RUNS = 255;
  /** Words of a block's head, kept by the caller. */
  static final int HEAD_WORDS = 2;
  /** Records read at once by a lookup in a block whose search window fits one 64-bit read. */
  static final int WINDOW = 4;
  /** Width of a raw type mask: one bit per metadata type. */
  static final int TYPE_BITS = MetadataType.values().length;
  /** Width of one palette slot: a type mask must fit it (PackedBlockTest checks that they do). */
  static final int PALETTE_SLOT_BITS = 16;
  /** Type masks in the palette word. */
  static final int PALETTE_SIZE = Long.SIZE / PALETTE_SLOT_BITS;

  /** Widest record for which {@value #WINDOW} records fit 64 bits. */
  private static final int WINDOW_RECORD_WIDTH = 64 / WINDOW;
  private static final long SLOT_MASK = (1L << PALETTE_SLOT_BITS) - 1;
  /** The type width code of raw masks in a compact head; 0, 1 and 2 are themselves. */
  private static final int RAW_TYPES_CODE = 3;

  private static final int BASE_BITS = 48;
  private static final long BASE_MASK = (1L << BASE_BITS) - 1;
  /** Added to a compact head's base, which may lie below cluster 0 (the line's lowest point). */
  private static final long BASE_BIAS = 1L << 47;
  private static final int COUNT_SHIFT = 48;
  private static final int START_WIDTH_SHIFT = 56;
  private static final int LENGTH_WIDTH_SHIFT = 60;
  private static final int COMPACT_WIDTH_LIMIT = 15;

  /** A compact head's reciprocal is {@code ceil(2^29 / slope)}, its slope in 2^-fraction clusters. */
  private static final int RECIPROCAL_BITS = 29;
  private static final long RECIPROCAL_MASK = (1L << 32) - 1;
  private static final int SLOPE_SHIFT = 32;
  private static final int SLOPE_BITS = 20;
  private static final long SLOPE_MASK = (1L << SLOPE_BITS) - 1;
  private static final int TYPE_CODE_SHIFT = 52;
  private static final int SPREAD_SHIFT = 54;
  private static final int COMPACT_SPREAD_LIMIT = 7;
  private static final int RECORD_WIDTH_SHIFT = 57;
  private static final long WINDOW_FLAG = 1L << 61;
  /** The compact slope's fraction bits, halved: 0 to 3 for 0, 2, 4 or 6 bits. */
  private static final int FRACTION_SHIFT = 62;
  /** Most fraction bits of a compact slope. */
  private static final int MAX_FRACTION = 6;
  /**
   * Largest scaled distance {@code ((c - base + 1) << fraction) - 1} a compact quotient takes:
   * larger ones are clamped, which is exact because a compact block's starts all lie less than
   * {@code 2^(29 - fraction)} clusters above its base.
   */
  private static final long Z_LIMIT = (1L << RECIPROCAL_BITS) - 1;

  /** Words before the records: the palette, and in a block with a full head its four words. */
  private static final int COMPACT_PREFIX_WORDS = 1;
  private static final int FULL_PREFIX_WORDS = 5;
  private static final int FULL_SPREAD_SHIFT = 27;

  static {
    if (TYPE_BITS > PALETTE_SLOT_BITS || MetadataType.ALL_MASK > SLOT_MASK) {
      throw new IllegalStateException(String.format(
          "%d metadata types do not fit a %d-bit palette slot", TYPE_BITS, PALETTE_SLOT_BITS));
    }
  }

  private PackedBlock() {}

  /**
   * Packs runs {@code [from, from + count)} of {@code runs} (1 to {@value #MAX_RUNS} runs): writes
   * the head to {@code heads[at..at + 1]} and returns the block's words.
   */
  static long[] encode(RunList runs, int from, int count, long[] heads, int at) {
    assert count >= 1 && count <= MAX_RUNS && from + count <= runs.size();
    long first = runs.start(from);
    long last = runs.start(from + count - 1);
    long integralSlope = count == 1 ? 0 : (last - first) / (count - 1);
    // A compact head's slope keeps up to six fraction bits (within its 20): the integral slope
    // alone drifts up to a cluster per run from the starts (an L2 table every 65 clusters with a
    // refcount block every fourth is a slope of 52.2), which widened every residual by 2 bits.
    // One pass measures the residuals of both lines; a block that is not compact with the
    // fraction gets the integral line (compact if it fits, else a full head).
    int fraction = Math.max(0, Math.min(MAX_FRACTION, SLOPE_BITS - width(integralSlope))) & ~1;
    long slope = count == 1 ? 0 : ((last - first) << fraction) / (count - 1);
    long minDeviation = 0;
    long maxDeviation = 0;
    long minIntegral = 0;
    long maxIntegral = 0;
    long maxLength = 0;
    long palette = 0;
    int paletteSize = 0;
    for (int i = 0; i < count; i++) {
      long start = runs.start(from + i);
      long deviation = start - first - (i * slope >>> fraction);
      minDeviation = Math.min(minDeviation, deviation);
      maxDeviation = Math.max(maxDeviation, deviation);
      long integral = start - first - i * integralSlope;
      minIntegral = Math.min(minIntegral, integral);
      maxIntegral = Math.max(maxIntegral, integral);
      maxLength = Math.max(maxLength, runs.end(from + i) - start - 1);
      if (paletteSize <= PALETTE_SIZE && paletteIndex(palette, paletteSize, runs.types(from + i)) < 0) {
        if (paletteSize < PALETTE_SIZE) {
          palette |= (long) runs.types(from + i) << (PALETTE_SLOT_BITS * paletteSize);
        }
        paletteSize++;
      }
    }
    int lengthWidth = width(maxLength);
    int typeWidth = paletteSize <= 1 ? 0 : paletteSize == 2 ? 1 : paletteSize <= PALETTE_SIZE ? 2 : TYPE_BITS;
    if (typeWidth == TYPE_BITS) {
      palette = 0;
    }
    long spread = spread(maxDeviation - minDeviation, slope, fraction);
    if (!compact(first + minDeviation, last, maxDeviation - minDeviation, lengthWidth, slope, fraction, spread)) {
      fraction = 0;
      slope = integralSlope;
      minDeviation = minIntegral;
      maxDeviation = maxIntegral;
      spread = spread(maxDeviation - minDeviation, slope, fraction);
    }
    long base = first + minDeviation;
    long maxResidual = maxDeviation - minDeviation;
    return pack(runs, from, count, heads, at, compact(base, last, maxResidual, lengthWidth, slope, fraction, spread),
        slope, fraction, base, spread, palette, paletteSize, width(maxResidual), lengthWidth, typeWidth);
  }

  /**
   * How far, in runs, the answer may lie below the last run whose line lies at or before a cluster:
   * see bisect. (With fraction bits the line is rounded down, hence the + 1.) Residuals span less
   * than 3 * count * slope (starts rise by at least 1 per run), so it stays below 3 * MAX_RUNS.
   */
  private static long spread(long maxResidual, long slope, int fraction) {
    long spread = slope == 0 ? 0 : (((maxResidual + (fraction == 0 ? 0 : 1)) << fraction) + slope - 1) / slope;
    assert spread <= 3 * MAX_RUNS : spread;
    return spread;
  }

  /** Whether a block with these fields fits a compact head. */
  private static boolean compact(long base, long last, long maxResidual, int lengthWidth, long slope,
      int fraction, long spread) {
    return width(maxResidual) <= COMPACT_WIDTH_LIMIT && lengthWidth <= COMPACT_WIDTH_LIMIT
        && slope <= SLOPE_MASK && spread <= COMPACT_SPREAD_LIMIT
        && last - base < 1L << (RECIPROCAL_BITS - fraction) && base + BASE_BIAS >= 0;
  }

  private static long[] pack(RunList runs, int from, int count, long[] heads, int at, boolean compact,
      long slope, int fraction, long base, long spread, long palette, int paletteSize, int startWidth,
      int lengthWidth, int typeWidth) {
    int recordWidth = startWidth + lengthWidth + typeWidth;
    int prefix = compact ? COMPACT_PREFIX_WORDS : FULL_PREFIX_WORDS;
    long bits = (long) count * recordWidth;
    long[] block = new long[prefix + (int) ((bits + 63) >>> 6)];
    block[0] = palette;
    if (compact) {
      boolean window = count >= WINDOW && spread <= WINDOW - 2 && recordWidth <= WINDOW_RECORD_WIDTH
          && recordWidth <= COMPACT_WIDTH_LIMIT;
      int typeCode = typeWidth == TYPE_BITS ? RAW_TYPES_CODE : typeWidth;
      heads[at] = (base + BASE_BIAS) | (long) count << COUNT_SHIFT
          | (long) startWidth << START_WIDTH_SHIFT | (long) lengthWidth << LENGTH_WIDTH_SHIFT;
      heads[at + 1] = (slope == 0 ? 0 : ((1L << RECIPROCAL_BITS) + slope - 1) / slope)
          | slope << SLOPE_SHIFT | (long) typeCode << TYPE_CODE_SHIFT | spread << SPREAD_SHIFT
          | (window ? (long) recordWidth << RECORD_WIDTH_SHIFT | WINDOW_FLAG : 0)
          | (long) (fraction >>> 1) << FRACTION_SHIFT;
    } else {
      heads[at] = 0;
      heads[at + 1] = 0;
      block[1] = count | (long) startWidth << 8 | (long) lengthWidth << 15 | (long) typeWidth << 22
          | spread << FULL_SPREAD_SHIFT;
      block[2] = slope;
      block[3] = base;
      block[4] = slope == 0 ? 0 : ((1L << 62) + slope - 1) / slope;
    }
    long origin = (long) prefix << 6;
    for (int i = 0; i < count; i++) {
      long start = runs.start(from + i);
      long record = origin + (long) i * recordWidth;
      put(block, record, startWidth, start - base - (i * slope >>> fraction));
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

  /** Runs in the block with head {@code heads[at..]} and words from {@code block[from]} on. */
  static int count(long[] heads, int at, long[] block, int from) {
    int count = (int) (heads[at] >>> COUNT_SHIFT) & 0xff;
    return count != 0 ? count : (int) block[from + 1] & 0xff;
  }

  /** Words the block with head {@code heads[at..]} and words from {@code block[from]} on occupies. */
  static int wordCount(long[] heads, int at, long[] block, int from) {
    Shape shape = new Shape(heads, at, block, from);
    return (int) ((shape.origin - ((long) from << 6) + (long) shape.count * shape.recordWidth + 63) >>> 6);
  }

  /** Appends every run of the block with head {@code heads[at..]} and words {@code block} to {@code out}. */
  static void decodeInto(long[] heads, int at, long[] block, int from, RunList out) {
    Shape shape = new Shape(heads, at, block, from);
    for (int i = 0; i < shape.count; i++) {
      long record = shape.origin + (long) i * shape.recordWidth;
      long start = shape.base + (i * shape.slope >>> shape.fraction) + get(block, record, shape.startWidth);
      long length = 1 + get(block, record + shape.startWidth, shape.lengthWidth);
      int code = (int) get(block, record + shape.startWidth + shape.lengthWidth, shape.typeWidth);
      out.add(start, start + length, shape.types(block, from, code));
    }
  }

  /**
   * The fast path of {@link #unionOverlapping} for the common case: a block with the window flag
   * (see {@link #WINDOW}) and a range {@code [low, high]} within one run or within the gap after it.
   * Returns the run's types (0 in a gap) and fills {@code span}, unless null, as {@code
   * unionOverlapping} does, or returns -1 and leaves {@code span} alone when it does not apply.
   */
  static int typesWithinOneRun(
      long[] heads, int at, long[] block, int from, long low, long high, long[] span) {
    long line = heads[at + 1];
    if ((line & WINDOW_FLAG) == 0) {
      return -1;
    }
    // Everything comes from the two head words and one 64-bit read of the records: the four
    // records that can hold the answer are compared at once (independent shifts, compares summed
    // without a branch) and the answer is decoded from the same bits, so a random lookup waits for
    // the head and one line of records. Kept small enough for C2 to inline into the check.
    long head = heads[at];
    int startWidth = (int) (head >>> START_WIDTH_SHIFT) & COMPACT_WIDTH_LIMIT;
    int recordWidth = (int) (line >>> RECORD_WIDTH_SHIFT) & COMPACT_WIDTH_LIMIT;
    long slope = (line >>> SLOPE_SHIFT) & SLOPE_MASK;
    int fraction = (int) (line >>> FRACTION_SHIFT) << 1;
    long base = (head & BASE_MASK) - BASE_BIAS;
    long x = high - base;
    long quotient = compactQuotient(x, line, fraction);
    int first = (int) Math.max(0, Math.min((head >>> COUNT_SHIFT & 0xff) - 1, quotient) - (WINDOW - 1));
    long window = word(block, ((long) from + COMPACT_PREFIX_WORDS << 6) + (long) first * recordWidth);
    long startMask = (1L << startWidth) - 1;
    long firstLine = first * slope;
    // (The window's first record starts at or before high: see bisect, which asserts it.)
    int ahead = 0;
    for (int j = 1; j < WINDOW; j++) {
      ahead += 1 - (int) ((x - (firstLine + j * slope >>> fraction) - (window >>> j * recordWidth & startMask)) >>> 63);
    }
    long record = window >>> ahead * recordWidth;
    long start = base + (firstLine + ahead * slope >>> fraction) + (record & startMask);
    long end = start + 1 + (record >>> startWidth & ((1L << (head >>> LENGTH_WIDTH_SHIFT)) - 1));
    if (end <= low) {
      if (span != null) {
        spanGap(span, end, block, from, head, line, first + ahead);
      }
      return 0;
    }
    return windowHit(block, from, line, record, start, end, low, high, startWidth, span);
  }

  /**
   * The end of {@link #typesWithinOneRun} when the range reaches into a run (a few checks in a hundred
   * on a preallocated image): the run's types, or -1 if the range crosses its start or end.
   */
  private static int windowHit(long[] block, int from, long line, long record, long start, long end, long low,
      long high, int startWidth, long[] span) {
    if (start > low || end <= high) {
      return -1;
    }
    int typeCode = (int) (line >>> TYPE_CODE_SHIFT) & 3;
    int typeShift = ((int) (line >>> RECORD_WIDTH_SHIFT) & COMPACT_WIDTH_LIMIT)
        - (typeCode == RAW_TYPES_CODE ? TYPE_BITS : typeCode);
    int code = (int) (record >>> typeShift) & ((1 << (typeCode == RAW_TYPES_CODE ? TYPE_BITS : typeCode)) - 1);
    int types = typeCode == RAW_TYPES_CODE
        ? code : (int) (block[from] >>> (PALETTE_SLOT_BITS * code) & SLOT_MASK);
    if (span != null) {
      span[0] = start;
      span[1] = end;
      span[2] = types;
    }
    return types;
  }

  /** Records in {@code span} the gap from {@code end} to the start of run {@code i + 1} (window path). */
  private static void spanGap(long[] span, long end, long[] block, int from, long head, long line, int i) {
    span[0] = end;
    if (i + 1 < (int) (head >>> COUNT_SHIFT & 0xff)) {
      int startWidth = (int) (head >>> START_WIDTH_SHIFT) & COMPACT_WIDTH_LIMIT;
      int recordWidth = (int) (line >>> RECORD_WIDTH_SHIFT) & COMPACT_WIDTH_LIMIT;
      long slope = (line >>> SLOPE_SHIFT) & SLOPE_MASK;
      int fraction = (int) (line >>> FRACTION_SHIFT) << 1;
      long base = (head & BASE_MASK) - BASE_BIAS;
      span[1] = base + ((i + 1) * slope >>> fraction)
          + get(block, ((long) from + COMPACT_PREFIX_WORDS << 6) + (long) (i + 1) * recordWidth, startWidth);
    } else {
      span[1] = Long.MAX_VALUE;
    }
    span[2] = 0;
  }

  /**
   * The union of the types of the runs of the block (head {@code heads[at..]}, words {@code
   * block}) that overlap clusters {@code [low, high]}, where {@code high} is at or after the block's
   * first start; the scan runs backwards from the last run starting at or before {@code high} and
   * stops once {@code wanted} is complete.
   *
   * <p>When the range lies within one run or within the gap after one, {@code span} receives that
   * run's or gap's clusters {@code [span[0], span[1])} and its types {@code span[2]}, everything a
   * later check inside it needs; {@code span[1]} is {@link Long#MAX_VALUE} for the gap after the
   * block's last run (the caller knows where the next block starts). Otherwise {@code span} is
   * left alone.
   */
  static int unionOverlapping(
      long[] heads, int at, long[] block, int from, long low, long high, int wanted, long[] span) {
    long head = heads[at];
    long line = heads[at + 1];
    boolean compact = (int) (head >>> COUNT_SHIFT & 0xff) != 0;
    int count;
    int startWidth;
    int lengthWidth;
    int typeWidth;
    long slope;
    int fraction = 0;
    long spread;
    long base;
    long origin;
    if (compact) {
      count = (int) (head >>> COUNT_SHIFT) & 0xff;
      startWidth = (int) (head >>> START_WIDTH_SHIFT) & COMPACT_WIDTH_LIMIT;
      lengthWidth = (int) (head >>> LENGTH_WIDTH_SHIFT);
      int typeCode = (int) (line >>> TYPE_CODE_SHIFT) & 3;
      typeWidth = typeCode == RAW_TYPES_CODE ? TYPE_BITS : typeCode;
      slope = (line >>> SLOPE_SHIFT) & SLOPE_MASK;
      fraction = (int) (line >>> FRACTION_SHIFT) << 1;
      spread = (line >>> SPREAD_SHIFT) & COMPACT_SPREAD_LIMIT;
      base = (head & BASE_MASK) - BASE_BIAS;
      origin = (long) from + COMPACT_PREFIX_WORDS << 6;
    } else {
      long format = block[from + 1];
      count = (int) format & 0xff;
      startWidth = (int) (format >>> 8) & 127;
      lengthWidth = (int) (format >>> 15) & 127;
      typeWidth = (int) (format >>> 22) & 31;
      spread = format >>> FULL_SPREAD_SHIFT;
      slope = block[from + 2];
      base = block[from + 3];
      origin = (long) from + FULL_PREFIX_WORDS << 6;
    }
    int recordWidth = startWidth + lengthWidth + typeWidth;
    int i = 0;
    if (slope != 0) {
      long quotient = compact
          ? compactQuotient(high - base, line, fraction)
          : fullQuotient(high - base, block[from + 4]);
      i = bisect(block, origin, count, recordWidth, startWidth, slope, fraction, spread, base, quotient, high);
    }
    long record = origin + (long) i * recordWidth;
    long start = base + (i * slope >>> fraction) + get(block, record, startWidth);
    long end = start + 1 + get(block, record + startWidth, lengthWidth);
    if (end <= low) {
      span[0] = end;
      span[1] = i + 1 < count
          ? startAt(block, origin, base, slope, fraction, recordWidth, startWidth, i + 1) : Long.MAX_VALUE;
      span[2] = 0;
      return 0;
    }
    int found = types(block, from, typeWidth, (int) get(block, record + startWidth + lengthWidth, typeWidth));
    if (start <= low) {
      if (high < end) {
        span[0] = start;
        span[1] = end;
        span[2] = found;
      }
      return found;
    }
    // Runs before run i that reach into [low, ...), until wanted is complete.
    while ((found & wanted) != wanted && --i >= 0) {
      record = origin + (long) i * recordWidth;
      start = base + (i * slope >>> fraction) + get(block, record, startWidth);
      if (start + 1 + get(block, record + startWidth, lengthWidth) <= low) {
        break;
      }
      found |= types(block, from, typeWidth, (int) get(block, record + startWidth + lengthWidth, typeWidth));
      if (start <= low) {
        break;
      }
    }
    return found;
  }

  /** The mask of type code {@code code} in a block whose codes are {@code typeWidth} bits wide. */
  private static int types(long[] block, int from, int typeWidth, int code) {
    return typeWidth == TYPE_BITS ? code : (int) (block[from] >>> (PALETTE_SLOT_BITS * code) & SLOT_MASK);
  }

  /**
   * For {@code x = c - base >= 0} in a compact block with a slope: the last run i whose line
   * {@code (i * slope) >>> fraction} lies at or before x, or one more. That run is {@code z / slope}
   * for {@code z = ((x + 1) << fraction) - 1}, and {@code ceil(2^29 / slope)} gives it or one more
   * by a multiplication for {@code z < 2^29} (the error, {@code z / 2^29}, stays below one). Larger
   * z are clamped, which is exact: every start of a compact block lies less than
   * {@code 2^(29 - fraction)} clusters above its base, so such a c is past them all.
   */
  private static long compactQuotient(long x, long line, int fraction) {
    assert x >= 0 : x;
    return (Math.min(((x + 1) << fraction) - 1, Z_LIMIT) * (line & RECIPROCAL_MASK)) >>> RECIPROCAL_BITS;
  }

  /**
   * {@code x / slope} or one more, from a full head's {@code ceil(2^62 / slope)}: the error of the
   * multiply-high, {@code x / 2^62} for {@code x < 2^50}, stays below one.
   */
  private static long fullQuotient(long x, long reciprocal) {
    assert x >= 0 && x < 1L << 50 : x;
    return Math.multiplyHigh(x << 2, reciprocal);
  }

  /** The last run starting at or before {@code cluster}, by a branch-free binary search of its window. */
  private static int bisect(long[] block, long origin, int count, int recordWidth, int startWidth,
      long slope, int fraction, long spread, long base, long quotient, long cluster) {
    // start[i] lies in [base + line(i), base + line(i) + maxResidual], line(i) = (i * slope) >>>
    // fraction, so the answer j satisfies j <= q, the last i with line(i) <= cluster - base. And
    // every i <= q - spread starts at or before cluster: line(q - spread) is at most line(q) minus
    // spread * slope / 2^fraction plus the 1 that rounding down may lose, and spread covers
    // maxResidual (+ 1 with a fraction). With the quotient q or q + 1, j lies in
    // [quotient - 1 - spread, quotient].
    int high = (int) Math.min(count - 1, quotient);
    int low = (int) Math.max(0, Math.min(high, quotient - 1 - spread));
    assert startAt(block, origin, base, slope, fraction, recordWidth, startWidth, low) <= cluster
        : "window misses its low end";
    // The trip count depends only on the window, and the select compiles to a conditional move, so
    // random lookups do not pay a mispredicted branch per step.
    for (int n = high - low + 1; n > 1; ) {
      int half = n >>> 1;
      int middle = low + half;
      low = startAt(block, origin, base, slope, fraction, recordWidth, startWidth, middle) <= cluster
          ? middle : low;
      n -= half;
    }
    return low;
  }

  private static long startAt(long[] block, long origin, long base, long slope, int fraction,
      int recordWidth, int startWidth, int i) {
    return base + (i * slope >>> fraction) + get(block, origin + (long) i * recordWidth, startWidth);
  }

  private static int paletteIndex(long palette, int paletteSize, int types) {
    for (int i = 0; i < Math.min(paletteSize, PALETTE_SIZE); i++) {
      if ((palette >>> (PALETTE_SLOT_BITS * i) & SLOT_MASK) == types) {
        return i;
      }
    }
    return -1;
  }

  /** Bits needed for values 0..max; 0 when max is 0. */
  private static int width(long max) {
    return 64 - Long.numberOfLeadingZeros(max);
  }

  /** The {@code width}-bit field at {@code bit}; the caller's spare word after the last block keeps both loads in bounds. */
  private static long get(long[] block, long bit, int width) {
    return word(block, bit) & ((1L << width) - 1);
  }

  /** The 64 bits from {@code bit} on (bits past the block's last record are ignored by every caller). */
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

  /** A block's fields for decoding, from its compact or its full head (updates and validation only). */
  private static final class Shape {
    final int count;
    final int startWidth;
    final int lengthWidth;
    final int typeWidth;
    final int recordWidth;
    final long slope;
    final int fraction;
    final long base;
    final long origin;

    Shape(long[] heads, int at, long[] block, int from) {
      long head = heads[at];
      if ((head >>> COUNT_SHIFT & 0xff) != 0) {
        long line = heads[at + 1];
        count = (int) (head >>> COUNT_SHIFT) & 0xff;
        startWidth = (int) (head >>> START_WIDTH_SHIFT) & COMPACT_WIDTH_LIMIT;
        lengthWidth = (int) (head >>> LENGTH_WIDTH_SHIFT);
        int typeCode = (int) (line >>> TYPE_CODE_SHIFT) & 3;
        typeWidth = typeCode == RAW_TYPES_CODE ? TYPE_BITS : typeCode;
        slope = (line >>> SLOPE_SHIFT) & SLOPE_MASK;
        fraction = (int) (line >>> FRACTION_SHIFT) << 1;
        base = (head & BASE_MASK) - BASE_BIAS;
        origin = (long) from + COMPACT_PREFIX_WORDS << 6;
      } else {
        long format = block[from + 1];
        count = (int) format & 0xff;
        startWidth = (int) (format >>> 8) & 127;
        lengthWidth = (int) (format >>> 15) & 127;
        typeWidth = (int) (format >>> 22) & 31;
        slope = block[from + 2];
        fraction = 0;
        base = block[from + 3];
        origin = (long) from + FULL_PREFIX_WORDS << 6;
      }
      recordWidth = startWidth + lengthWidth + typeWidth;
    }

    int types(long[] block, int from, int code) {
      return PackedBlock.types(block, from, typeWidth, code);
    }
  }
}
