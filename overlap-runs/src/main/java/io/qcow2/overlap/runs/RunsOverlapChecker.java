package io.qcow2.overlap.runs;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Arrays;
import java.util.Map;

/**
 * The {@code runs} strategy: every metadata run of the image (start cluster, length, type mask) in
 * one sorted list, cut into {@link PackedBlock}s of at most {@code maxBlockRuns} runs. Parallel
 * primitive arrays index the blocks: their heads (what a lookup needs before it reads a record),
 * first starts, the union of their types, and a directory from cluster buckets to blocks, so a
 * check finds its block in O(1) with no branch on any layout whose blocks are spread evenly
 * (O(log blocks) otherwise) and its run with one multiplication and, in most blocks, one 64-bit read
 * of the records that can hold it.
 *
 * <p>{@code enter}/{@code remove} unpack the blocks holding the runs they change (and their
 * neighbours, for merging), rewrite those runs and pack them again: the cost is proportional to the
 * runs changed plus one block, never to the clusters covered; {@code enter(0, 2^47 clusters)} adds
 * one run. A {@code check} over many runs ORs whole blocks' type unions without unpacking them.
 *
 * <p><b>Not thread-safe.</b> One checker belongs to one open image; the engine serialises every call
 * on it, as QEMU does under the image's lock.
 */
final class RunsOverlapChecker extends OverlapChecker {
  /*
   * Invariants (validate()): runs are sorted, disjoint, non-empty, carry a non-empty subset of the
   * enabled types, and two touching runs never carry the same types (the list is canonical, so the
   * answer to any check depends only on the per-cluster types). Every block holds 1..maxBlockRuns
   * runs, is exactly the encoding of its runs (words from offsets[k] on, head in heads[2k..2k + 1]);
   * blocks do not overlap, lie below usedWords with garbageWords dead words between them, and every
   * word from usedWords on is zero;
   * firsts[k] is its first start and unions[k] the union of its types. The directory, when not
   * stale, equals a rebuild (see buildDirectory).
   *
   * Sequential appends (an image being created) fill blocks completely: a rewrite at the end of the
   * list packs full blocks from the left. Elsewhere an overfull block splits evenly, and a rewrite
   * that leaves a nearly empty block absorbs a neighbour.
   */

  /** Statistics key: blocks packed by enter/remove. */
  static final String STAT_BLOCKS_WRITTEN = "blocks-written";
  /** Statistics key: rebuilds of the block directory (after blocks were added, removed or moved). */
  static final String STAT_DIRECTORY_REBUILDS = "directory-rebuilds";
  /** Statistics key: rebuilds of the cell filter. */
  static final String STAT_CELL_REBUILDS = "cell-filter-rebuilds";

  private static final int INITIAL_BLOCKS = 4;
  /**
   * Zero words kept after the last block: a field read loads the word holding it and the next, and
   * a block without record bits has its (empty) records at the word after its last.
   */
  private static final int SPARE_WORDS = 2;
  /** Directory buckets per block, at most: fine enough that a bucket rarely holds two block starts. */
  private static final int BUCKETS_PER_BLOCK = 2;
  /** Largest bucket shift whose in-bucket cut fits a directory entry's high half. */
  private static final int MAX_CUT_SHIFT = 31;
  /** Misses of the last span after which only one check in this many records its span (a power of 2). */
  private static final int SPAN_MISSES = 8;
  /** Bits of the cell filter per run, at most (see {@link #cells}). */
  private static final int CELL_BITS_PER_RUN = 5;
  /** The cell filter covers the runs' clusters and this fraction more (as a shift), room for the image to grow. */
  private static final int CELL_ROOM_SHIFT = 3;
  /** Runs the tail of pending appends holds before they are packed (see {@link #tailStarts}). */
  static final int TAIL_RUNS = 64;

  private final int maxBlockRuns;
  private final long clusterLimit;
  /**
   * Every block's words in one array, followed by at least {@value #SPARE_WORDS} zero words, so that
   * at 10^6 structures the records span a few hundred pages instead of one page per block scattered
   * over the heap (random checks missed the TLB, not only the caches). Block k starts at
   * offsets[k]. A rewritten block is appended and its old words become garbage; when garbage
   * exceeds an eighth of the live words the array is compacted in block order. So an update costs
   * its blocks' words plus, amortised, eight words copied per word freed, never a shift of the
   * whole array (the engine enters refcount blocks after the L2 tables, in the middle of the list).
   */
  private long[] words = new long[SPARE_WORDS];
  /** Where each block starts in {@link #words}. */
  private int[] offsets = new int[INITIAL_BLOCKS];
  /** Words of {@link #words} ever written since the last compaction: blocks and garbage. */
  private int usedWords;
  /** Words below {@link #usedWords} that belong to no block. */
  private int garbageWords;
  /** The blocks' heads, {@value PackedBlock#HEAD_WORDS} words each: what a lookup needs before it reads a record. */
  private long[] heads = new long[INITIAL_BLOCKS * PackedBlock.HEAD_WORDS];
  private long[] firsts = new long[INITIAL_BLOCKS];
  private int[] unions = new int[INITIAL_BLOCKS];
  private int blockCount;
  private long runCount;
  private long[] directory = new long[0];
  private int directoryShift;
  private boolean directoryStale;
  /**
   * The clusters {@code [lastSpan[0], lastSpan[1])} around the last check that lie in one run or one
   * gap, and their types {@code lastSpan[2]}: a check inside answers at once (sequential writes).
   * Every change empties it.
   */
  private final long[] lastSpan = {1, 0, 0};
  /** Checks since the last one answered from {@link #lastSpan}. */
  private int spanMisses;
  /**
   * The cell filter: bit i is set when a run touches clusters {@code [cellOrigin + (i << cellShift),
   * cellOrigin + (i + 1 << cellShift))}, so a clear bit answers a check with one load from an array
   * indexed by the cluster itself, before the directory, the head and the records. Its cells are as
   * small as {@value #CELL_BITS_PER_RUN} bits per run allow (16 clusters on images preallocated at
   * 512-byte clusters, of which three in four hold no metadata). Built on the first check after
   * it went stale; {@code enter} sets the bits of its clusters; {@code remove} leaves them set (a
   * set bit only sends the check on to the blocks). It goes stale when an enter reaches outside the
   * covered clusters (which reach an eighth past the runs) or removes since the build exceed the
   * runs, so a rebuild (which decodes every run) is paid for by changes in proportion to its cost.
   */
  private long[] cells = new long[0];
  private long cellOrigin;
  /** Clusters from {@link #cellOrigin} the filter covers: 0 while it is stale. */
  private long cellClusters;
  private int cellShift;
  private boolean cellsStale = true;
  private long removesSinceCells;
  private long cellRebuilds;
  private long blocksWritten;
  private long directoryRebuilds;
  /**
   * The tail: up to {@value #TAIL_RUNS} runs appended after the last packed run (with a gap), kept
   * unpacked in order until it is full or another change comes. An image grows by appends (one L2
   * table per 64 clusters written at 512-byte clusters), and packing each into the last block
   * unpacked and repacked up to 128 runs a time (about 2 µs): the tail packs them 64 at a time.
   * Checks reaching {@link #tailFrom} scan it from its newest run, which the engine checks right
   * after entering it.
   */
  private final long[] tailStarts = new long[TAIL_RUNS];
  private final long[] tailEnds = new long[TAIL_RUNS];
  private final int[] tailTypes = new int[TAIL_RUNS];
  private int tailSize;
  /** The tail's first start; {@code Long.MAX_VALUE} when it is empty. */
  private long tailFrom = Long.MAX_VALUE;

  RunsOverlapChecker(OverlapCheckerSetup setup, int maxBlockRuns) {
    super(setup);
    if (maxBlockRuns < 1 || maxBlockRuns > PackedBlock.MAX_RUNS) {
      throw new IllegalArgumentException(String.format(
          "maxBlockRuns %d out of range [1, %d]", maxBlockRuns, PackedBlock.MAX_RUNS));
    }
    this.maxBlockRuns = maxBlockRuns;
    this.clusterLimit = MAX_HOST_OFFSET >>> setup.clusterBits();
  }

  int maxBlockRuns() {
    return maxBlockRuns;
  }

  int blockCount() {
    return blockCount;
  }

  /** Runs held, packed and in the tail. */
  long runCount() {
    return runCount + tailSize;
  }

  @Override
  public long memoryBytes() {
    return Memory.CHECKER + Memory.LAST_SPAN + Memory.longArray(words.length) + Memory.intArray(offsets.length)
        + Memory.longArray(heads.length) + Memory.longArray(firsts.length) + Memory.intArray(unions.length)
        + Memory.longArray(directory.length) + Memory.longArray(cells.length)
        + Memory.TAIL;
  }

  @Override
  protected void addStats(Map<String, Long> stats) {
    stats.put(STAT_BLOCKS_WRITTEN, blocksWritten);
    stats.put(STAT_DIRECTORY_REBUILDS, directoryRebuilds);
    stats.put(STAT_CELL_REBUILDS, cellRebuilds);
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    long end = first + count;
    if (!appendToTail(first, end, types)) {
      flushTail();
      update(first, end, types, true);
    }
    markCells(first, end);
  }

  /** Appends {@code [first, end)} to the tail if it lies after every run (with a gap after the packed ones). */
  private boolean appendToTail(long first, long end, int types) {
    if (tailSize == 0) {
      if (first <= packedEnd()) {
        return false;
      }
    } else {
      int t = tailSize - 1;
      if (first < tailEnds[t]) {
        return false;
      }
      if (first == tailEnds[t] && types == tailTypes[t]) {
        tailEnds[t] = end;
        emptySpan();
        return true;
      }
      if (tailSize == TAIL_RUNS) {
        // Packed, the tail's last run ends the packed runs: one touching it must go through
        // update to merge; one after a gap starts the next tail (no need to decode the end again).
        flushTail();
        if (first == tailEnds[t]) {
          return false;
        }
      }
    }
    if (tailSize == 0) {
      tailFrom = first;
    }
    tailStarts[tailSize] = first;
    tailEnds[tailSize] = end;
    tailTypes[tailSize] = types;
    tailSize++;
    emptySpan();
    return true;
  }

  /** The end of the last packed run, -1 if none. */
  private long packedEnd() {
    if (blockCount == 0) {
      return -1;
    }
    RunList last = new RunList(count(blockCount - 1));
    decodeInto(blockCount - 1, last);
    return last.end(last.size() - 1);
  }

  /** Packs the tail after the last packed run: one repack of the last block for up to {@value #TAIL_RUNS} appends. */
  private void flushTail() {
    if (tailSize == 0) {
      return;
    }
    int high = blockCount - 1;
    RunList runs = new RunList((high < 0 ? 0 : count(high)) + tailSize);
    if (high >= 0) {
      decodeInto(high, runs);
    }
    for (int i = 0; i < tailSize; i++) {
      runs.emit(tailStarts[i], tailEnds[i], tailTypes[i]);
    }
    tailSize = 0;
    tailFrom = Long.MAX_VALUE;
    emptySpan();
    replace(Math.max(high, 0), high, runs);
  }

  private void emptySpan() {
    lastSpan[0] = 1;
    lastSpan[1] = 0;
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    if ((checkClusters(first, count, types) & types) != 0) {
      flushTail();
      update(first, first + count, types, false);
      if (++removesSinceCells > runCount) {
        staleCells();
      }
    }
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    long last = first + count - 1;
    if (last >= tailFrom) {
      return checkWithTail(first, last, wanted);
    }
    long[] span = lastSpan;
    // One branch on both bounds' signs: random checks (nearly always outside) would mispredict the
    // first of two separate compares half the time.
    if (((first - span[0]) | (span[1] - 1 - last)) >= 0) {
      spanMisses = 0;
      return (int) span[2];
    }
    // The cell filter: a range within one cell or two neighbours, covered and clear, holds no run.
    long fromOrigin = first - cellOrigin;
    long lastFromOrigin = last - cellOrigin;
    if ((fromOrigin | (cellClusters - 1 - lastFromOrigin)) >= 0) {
      long[] filter = cells;
      long firstCell = fromOrigin >>> cellShift;
      long lastCell = lastFromOrigin >>> cellShift;
      // One branch: the cells' bits and whether the range reaches past the next cell.
      if (((filter[(int) (firstCell >>> 6)] >>> firstCell | filter[(int) (lastCell >>> 6)] >>> lastCell) & 1
          | (firstCell + 1 - lastCell) >>> 63) == 0) {
        if (spanMisses < SPAN_MISSES) {
          // Soon after a span hit (a sequential writer): the clear cells become the span. (Random
          // checks, long past it, neither store nor count here.)
          spanMisses++;
          span[0] = cellOrigin + (firstCell << cellShift);
          span[1] = cellOrigin + (lastCell + 1 << cellShift);
          span[2] = 0;
        }
        return 0;
      }
    }
    return checkInBlocks(first, last, wanted);
  }

  /** A check reaching the tail: the packed runs before it, then the tail from its newest run. */
  private int checkWithTail(long first, long last, int wanted) {
    int found = first < tailFrom ? checkClusters(first, tailFrom - first, wanted) : 0;
    for (int i = tailSize - 1; i >= 0 && tailEnds[i] > first; i--) {
      if (tailStarts[i] <= last) {
        found |= tailTypes[i];
      }
    }
    return found;
  }

  /**
   * The check of {@code [first, last]} by the directory, the head and the records: everything the
   * last span and the cell filter could not answer, kept out of {@link #checkClusters} so that the
   * span and the filter stay small enough for C2 to inline into the API's {@code check}.
   */
  private int checkInBlocks(long first, long last, int wanted) {
    long[] span = lastSpan;
    int k = blockForCheck(last);
    if (k < 0) {
      span[0] = 0;
      span[1] = blockCount == 0 ? clusterLimit : firsts[0];
      span[2] = 0;
      return 0;
    }
    // Random checks never land in the last span: after SPAN_MISSES misses in a row, record one span
    // in SPAN_MISSES only (enough to notice sequential checks again), which saves the span's stores
    // and the next run's decoding on every other random check.
    int misses = ++spanMisses;
    boolean record = misses <= SPAN_MISSES || (misses & (SPAN_MISSES - 1)) == 0;
    int found = PackedBlock.typesWithinOneRun(
        heads, k * PackedBlock.HEAD_WORDS, words, offsets[k], first, last, record ? span : null);
    if (found < 0) {
      return unionOverlapping(k, first, last, wanted);
    }
    if (record && span[1] == Long.MAX_VALUE) {
      span[1] = k + 1 < blockCount ? firsts[k + 1] : clusterLimit;
    }
    return found;
  }

  /** The general path of a check: {@code [first, last]} may cross runs and blocks up to block k. */
  private int unionOverlapping(int k, long first, long last, int wanted) {
    long[] span = lastSpan;
    int found = PackedBlock.unionOverlapping(
        heads, k * PackedBlock.HEAD_WORDS, words, offsets[k], first, last, wanted, span);
    if (span[1] == Long.MAX_VALUE) {
      span[1] = k + 1 < blockCount ? firsts[k + 1] : clusterLimit;
    }
    if ((found & wanted) == wanted || firsts[k] <= first) {
      return found;
    }
    // Blocks that start inside the range lie wholly inside it (they end before block k starts).
    for (k--; k >= 0 && firsts[k] >= first; k--) {
      found |= unions[k];
      if ((found & wanted) == wanted) {
        return found;
      }
    }
    if (k >= 0) {
      found |= PackedBlock.unionOverlapping(
          heads, k * PackedBlock.HEAD_WORDS, words, offsets[k], first, last, wanted, span);
      // The range spans several runs: whatever span the call saw in block k alone is not ours.
      span[0] = 1;
      span[1] = 0;
    }
    return found;
  }

  /**
   * Checks every invariant (see the implementation notes) by unpacking every block.
   *
   * @throws IllegalStateException naming the first violation
   */
  public void validate() {
    if (blockCount < 0 || blockCount > firsts.length || offsets.length != firsts.length
        || firsts.length != unions.length || heads.length != firsts.length * PackedBlock.HEAD_WORDS) {
      throw new IllegalStateException(String.format("block count %d, arrays %d/%d/%d/%d",
          blockCount, offsets.length, firsts.length, unions.length, heads.length));
    }
    if (usedWords < 0 || usedWords + SPARE_WORDS > words.length || garbageWords < 0 || garbageWords > usedWords) {
      throw new IllegalStateException(String.format("%d words used (%d garbage) of %d, %d spare needed",
          usedWords, garbageWords, words.length, SPARE_WORDS));
    }
    long[] extents = new long[blockCount];
    long liveWords = 0;
    for (int k = 0; k < blockCount; k++) {
      int size = offsets[k] < 0 || offsets[k] >= usedWords ? -1 : blockWords(k);
      if (size < 1 || offsets[k] + size > usedWords) {
        throw new IllegalStateException(String.format(
            "block %d at word %d (%d words) outside the %d used words", k, offsets[k], size, usedWords));
      }
      extents[k] = (long) offsets[k] << 32 | (offsets[k] + size);
      liveWords += size;
    }
    Arrays.sort(extents);
    for (int i = 1; i < extents.length; i++) {
      if (extents[i] >>> 32 < (extents[i - 1] & 0xffffffffL)) {
        throw new IllegalStateException("blocks overlap at word " + (extents[i] >>> 32));
      }
    }
    if (liveWords != usedWords - garbageWords) {
      throw new IllegalStateException(String.format(
          "%d words in blocks, %d used less %d garbage recorded", liveWords, usedWords, garbageWords));
    }
    for (int w = usedWords; w < words.length; w++) {
      if (words[w] != 0) {
        throw new IllegalStateException("word " + w + " after the last block is not zero");
      }
    }
    long runs = 0;
    long previousEnd = -1;
    int previousTypes = 0;
    for (int k = 0; k < blockCount; k++) {
      int count = count(k);
      if (count < 1 || count > maxBlockRuns) {
        throw new IllegalStateException(String.format(
            "block %d holds %d runs (allowed 1..%d)", k, count, maxBlockRuns));
      }
      RunList decoded = new RunList(count);
      decodeInto(k, decoded);
      if (decoded.start(0) != firsts[k]) {
        throw new IllegalStateException(String.format(
            "block %d: index says first start %d, block starts at %d", k, firsts[k], decoded.start(0)));
      }
      int union = 0;
      for (int i = 0; i < count; i++) {
        long start = decoded.start(i);
        long end = decoded.end(i);
        int types = decoded.types(i);
        String problem = null;
        if (start < 0 || end <= start || end > clusterLimit) {
          problem = "empty or outside [0, " + clusterLimit + ")";
        } else if (types == 0 || (types & ~enabledMask()) != 0) {
          problem = "types empty or not enabled (enabled 0x" + Integer.toHexString(enabledMask()) + ")";
        } else if (start < previousEnd) {
          problem = "overlaps or precedes the run ending at " + previousEnd;
        } else if (start == previousEnd && types == previousTypes) {
          problem = "should have merged with the run before";
        }
        if (problem != null) {
          throw new IllegalStateException(String.format(
              "block %d run %d [%d, %d) types 0x%x: %s", k, i, start, end, types, problem));
        }
        if (!cellsStale && !cellsCover(start, end)) {
          throw new IllegalStateException(String.format(
              "block %d run %d [%d, %d): a cell of the filter is clear", k, i, start, end));
        }
        previousEnd = end;
        previousTypes = types;
        union |= types;
      }
      if (union != unions[k]) {
        throw new IllegalStateException(String.format(
            "block %d: index says types 0x%x, runs hold 0x%x", k, unions[k], union));
      }
      long[] head = new long[PackedBlock.HEAD_WORDS];
      long[] expected = PackedBlock.encode(decoded, 0, count, head, 0);
      if (blockWords(k) != expected.length
          || !Arrays.equals(words, offsets[k], offsets[k] + expected.length, expected, 0, expected.length)
          || !Arrays.equals(head, 0, head.length, heads, k * PackedBlock.HEAD_WORDS,
              (k + 1) * PackedBlock.HEAD_WORDS)) {
        throw new IllegalStateException("block " + k + " is not the canonical packing of its runs");
      }
      runs += count;
    }
    if (!cellsStale && (cellClusters != (long) cells.length << 6 << cellShift
        || (blockCount > 0 && cellOrigin > firsts[0]))) {
      throw new IllegalStateException(String.format("cell filter: %d clusters from %d, %d words of 2^%d",
          cellClusters, cellOrigin, cells.length, cellShift));
    }
    if (runs != runCount) {
      throw new IllegalStateException(String.format(
          "accounting: %d runs recorded, %d found", runCount, runs));
    }
    if (tailSize < 0 || tailSize > TAIL_RUNS
        || tailFrom != (tailSize == 0 ? Long.MAX_VALUE : tailStarts[0])) {
      throw new IllegalStateException(String.format("tail of %d runs from %d", tailSize, tailFrom));
    }
    // The tail follows the packed runs with a gap (so its first run cannot merge with them).
    previousEnd = previousEnd < 0 ? -1 : previousEnd + 1;
    previousTypes = 0;
    for (int i = 0; i < tailSize; i++) {
      long start = tailStarts[i];
      long end = tailEnds[i];
      int types = tailTypes[i];
      if (start < previousEnd || end <= start || end > clusterLimit || types == 0
          || (types & ~enabledMask()) != 0 || (start == previousEnd && types == previousTypes)) {
        throw new IllegalStateException(String.format(
            "tail run %d [%d, %d) types 0x%x after a run ending at %d", i, start, end, types, previousEnd));
      }
      if (!cellsStale && !cellsCover(start, end)) {
        throw new IllegalStateException(String.format(
            "tail run %d [%d, %d): a cell of the filter is clear", i, start, end));
      }
      previousEnd = end;
      previousTypes = types;
    }
    if (!directoryStale) {
      long[] expected = buildDirectory();
      if (!Arrays.equals(directory, expected) || (blockCount > 0 && directoryShift != shiftFor())) {
        throw new IllegalStateException("directory differs from a rebuild: " + Arrays.toString(directory)
            + " vs " + Arrays.toString(expected));
      }
    }
  }

  /** Rewrites the runs around {@code [first, end)}, adding or clearing {@code mask} there. */
  private void update(long first, long end, int mask, boolean enter) {
    lastSpan[0] = 1;
    lastSpan[1] = 0;
    int low;
    int high;
    if (blockCount == 0) {
      low = 0;
      high = -1;
    } else {
      // The run that may end at first and the run that may start at end can merge with new runs.
      low = Math.max(0, blockAtOrBefore(first == 0 ? 0 : first - 1));
      high = Math.max(low, blockAtOrBefore(end));
    }
    RunList in = new RunList(runsIn(low, high));
    for (int k = low; k <= high; k++) {
      decodeInto(k, in);
    }
    RunList out = new RunList(in.size() + 2);
    for (int i = 0; i < in.size() && in.start(i) < first; i++) {
      out.emit(in.start(i), Math.min(in.end(i), first), in.types(i));
    }
    long covered = first;
    for (int i = 0; i < in.size() && in.start(i) < end; i++) {
      if (in.end(i) > first) {
        long from = Math.max(in.start(i), first);
        long to = Math.min(in.end(i), end);
        if (enter) {
          out.emit(covered, from, mask);
        }
        out.emit(from, to, enter ? in.types(i) | mask : in.types(i) & ~mask);
        covered = to;
      }
    }
    if (enter) {
      out.emit(covered, end, mask);
    }
    for (int i = 0; i < in.size(); i++) {
      if (in.end(i) > end) {
        out.emit(Math.max(in.start(i), end), in.end(i), in.types(i));
      }
    }
    int size = out.size();
    if (size > 0 && size <= Math.max(1, maxBlockRuns / 4)) {
      if (high + 1 < blockCount && size + count(high + 1) <= maxBlockRuns) {
        high++;
        RunList right = new RunList(count(high));
        decodeInto(high, right);
        appendAll(right, out);
      } else if (low > 0 && low <= high && size + count(low - 1) <= maxBlockRuns) {
        low--;
        RunList merged = new RunList(count(low) + size);
        decodeInto(low, merged);
        appendAll(out, merged);
        out = merged;
      }
    }
    replace(low, high, out);
  }

  private static void appendAll(RunList from, RunList to) {
    for (int i = 0; i < from.size(); i++) {
      to.emit(from.start(i), from.end(i), from.types(i));
    }
  }

  private int runsIn(int low, int high) {
    int runs = 0;
    for (int k = low; k <= high; k++) {
      runs += count(k);
    }
    return runs;
  }

  /** Replaces blocks {@code [low, high]} (none if {@code high < low}) by the packing of {@code runs}. */
  private void replace(int low, int high, RunList runs) {
    int oldBlocks = high - low + 1;
    int size = runs.size();
    int newBlocks = (size + maxBlockRuns - 1) / maxBlockRuns;
    boolean atEnd = high == blockCount - 1;
    long oldRuns = 0;
    for (int k = low; k <= high; k++) {
      oldRuns += count(k);
    }
    long[][] packed = new long[newBlocks][];
    long[] newHeads = new long[newBlocks * PackedBlock.HEAD_WORDS];
    int newWords = 0;
    int from = 0;
    for (int b = 0; b < newBlocks; b++) {
      // At the end of the list fill blocks completely (appends); elsewhere split evenly.
      int count = atEnd ? Math.min(maxBlockRuns, size - from)
          : size / newBlocks + (b < size % newBlocks ? 1 : 0);
      packed[b] = PackedBlock.encode(runs, from, count, newHeads, b * PackedBlock.HEAD_WORDS);
      newWords += packed[b].length;
      from += count;
    }
    assert from == size;
    int oldWords = 0;
    for (int k = low; k <= high; k++) {
      oldWords += blockWords(k);
    }
    if (usedWords + newWords + SPARE_WORDS > words.length) {
      long needed = (long) usedWords + newWords + SPARE_WORDS;
      words = Arrays.copyOf(words, Math.toIntExact(Math.min(Integer.MAX_VALUE - 8, needed + (needed >> 3))));
    }

    boolean moved = newBlocks != oldBlocks;
    int newCount = blockCount - oldBlocks + newBlocks;
    if (newCount > firsts.length) {
      resize(newCount + (newCount >> 1) + 1);
    }
    int tail = blockCount - high - 1;
    System.arraycopy(firsts, high + 1, firsts, low + newBlocks, tail);
    System.arraycopy(unions, high + 1, unions, low + newBlocks, tail);
    System.arraycopy(offsets, high + 1, offsets, low + newBlocks, tail);
    System.arraycopy(heads, (high + 1) * PackedBlock.HEAD_WORDS, heads,
        (low + newBlocks) * PackedBlock.HEAD_WORDS, tail * PackedBlock.HEAD_WORDS);
    blockCount = newCount;
    if (newCount < firsts.length / 4 && firsts.length > INITIAL_BLOCKS) {
      resize(Math.max(INITIAL_BLOCKS, newCount + (newCount >> 1) + 1));
    }
    int at = usedWords;
    from = 0;
    for (int b = 0; b < newBlocks; b++) {
      int k = low + b;
      offsets[k] = at;
      System.arraycopy(packed[b], 0, words, at, packed[b].length);
      at += packed[b].length;
      System.arraycopy(newHeads, b * PackedBlock.HEAD_WORDS, heads, k * PackedBlock.HEAD_WORDS, PackedBlock.HEAD_WORDS);
      moved |= b < oldBlocks && firsts[k] != runs.start(from);
      int count = count(k);
      firsts[k] = runs.start(from);
      unions[k] = PackedBlock.union(runs, from, count);
      from += count;
    }
    usedWords = at;
    garbageWords += oldWords;
    int liveWords = usedWords - garbageWords;
    if (garbageWords > liveWords >> 3 || usedWords + SPARE_WORDS < words.length / 4) {
      compact(liveWords);
    }
    blocksWritten += newBlocks;
    runCount += size - oldRuns;
    directoryStale |= moved;
  }

  /** Rewrites {@link #words} with the blocks back to back in block order and room for an eighth more. */
  private void compact(int liveWords) {
    long[] packed = new long[liveWords + (liveWords >> 3) + SPARE_WORDS];
    int at = 0;
    for (int k = 0; k < blockCount; k++) {
      int size = blockWords(k);
      System.arraycopy(words, offsets[k], packed, at, size);
      offsets[k] = at;
      at += size;
    }
    assert at == liveWords;
    words = packed;
    usedWords = at;
    garbageWords = 0;
  }

  private int blockWords(int k) {
    return PackedBlock.wordCount(heads, k * PackedBlock.HEAD_WORDS, words, offsets[k]);
  }

  private void resize(int capacity) {
    firsts = Arrays.copyOf(firsts, capacity);
    unions = Arrays.copyOf(unions, capacity);
    offsets = Arrays.copyOf(offsets, capacity);
    heads = Arrays.copyOf(heads, capacity * PackedBlock.HEAD_WORDS);
  }

  private int count(int k) {
    return PackedBlock.count(heads, k * PackedBlock.HEAD_WORDS, words, offsets[k]);
  }

  private void decodeInto(int k, RunList out) {
    PackedBlock.decodeInto(heads, k * PackedBlock.HEAD_WORDS, words, offsets[k], out);
  }

  /** The last block whose first start is at or before {@code cluster}, or -1. */
  private int blockAtOrBefore(long cluster) {
    return lastAtOrBefore(cluster, 0, blockCount - 1);
  }

  /** As {@link #blockAtOrBefore}, through the directory. */
  private int blockForCheck(long cluster) {
    if (directoryStale) {
      directory = buildDirectory();
      directoryShift = shiftFor();
      directoryStale = false;
      directoryRebuilds++;
    }
    if (cellsStale) {
      buildCells();
    }
    long[] buckets = directory;
    if (buckets.length == 0 || cluster < firsts[0]) {
      return -1;
    }
    long offset = cluster - firsts[0];
    // Clusters past the last bucket belong to the last block: the last bucket holds its start.
    int bucket = (int) Math.min(offset >>> directoryShift, buckets.length - 1);
    long entry = buckets[bucket];
    int block = (int) entry;
    long cut = entry >>> 32;
    if (cut == 0) {
      int high = bucket + 1 < buckets.length ? (int) buckets[bucket + 1] : blockCount - 1;
      return lastAtOrBefore(cluster, block, high);
    }
    // The next block starts cut clusters into the bucket (cut is the bucket size when none does):
    // one subtraction's sign instead of a branch that random checks would mispredict.
    long intoBucket = offset - ((long) bucket << directoryShift);
    return Math.min(block + (int) ((cut - 1 - intoBucket) >>> 63), blockCount - 1);
  }

  /** The last block in {@code [low, high]} starting at or before {@code cluster}; low's does. */
  private int lastAtOrBefore(long cluster, int low, int high) {
    if (high < 0 || firsts[low] > cluster) {
      return -1;
    }
    for (int n = high - low + 1; n > 1; ) {
      int half = n >>> 1;
      int middle = low + half;
      low = firsts[middle] <= cluster ? middle : low;
      n -= half;
    }
    return low;
  }

  /** The smallest bucket shift that gives at most {@value #BUCKETS_PER_BLOCK} buckets per block. */
  private int shiftFor() {
    long span = blockCount == 0 ? 0 : firsts[blockCount - 1] - firsts[0];
    int shift = 0;
    while ((span >>> shift) >= (long) BUCKETS_PER_BLOCK * blockCount && shift < 63) {
      shift++;
    }
    return shift;
  }

  /**
   * Bucket i covers clusters {@code [s, s + 2^shift)} from {@code s = firsts[0] + (i << shift)}; its
   * entry holds, low half, the last block starting at or before s and, high half, where the next
   * block starts within the bucket ({@code 2^shift} if it starts after), or 0 when two or more
   * blocks start inside or the shift exceeds 31: those buckets are searched.
   */
  private long[] buildDirectory() {
    if (blockCount == 0) {
      return directory.length == 0 ? directory : new long[0];
    }
    int shift = shiftFor();
    long size = 1L << shift;
    int length = (int) ((firsts[blockCount - 1] - firsts[0]) >>> shift) + 1;
    long[] buckets = directory.length == length && directoryStale ? directory : new long[length];
    int k = 0;
    for (int i = 0; i < length; i++) {
      long bucketStart = firsts[0] + ((long) i << shift);
      while (k + 1 < blockCount && firsts[k + 1] <= bucketStart) {
        k++;
      }
      int inside = 0;
      while (inside < 2 && k + 1 + inside < blockCount && firsts[k + 1 + inside] - bucketStart < size) {
        inside++;
      }
      long cut = shift > MAX_CUT_SHIFT || inside > 1 ? 0 : inside == 1 ? firsts[k + 1] - bucketStart : size;
      buckets[i] = k | cut << 32;
    }
    return buckets;
  }

  /** Whether every cell of the filter that clusters {@code [start, end)} touch is set (and covered). */
  private boolean cellsCover(long start, long end) {
    if (start < cellOrigin || end - cellOrigin > cellClusters) {
      return false;
    }
    for (long cell = (start - cellOrigin) >>> cellShift; cell <= (end - 1 - cellOrigin) >>> cellShift; cell++) {
      if ((cells[(int) (cell >>> 6)] >>> cell & 1) == 0) {
        return false;
      }
    }
    return true;
  }

  /** Empties the cell filter: checks go to the blocks until the next one rebuilds it. */
  private void staleCells() {
    cellsStale = true;
    cellClusters = 0;
  }

  /** Sets the filter's bits for clusters {@code [first, end)}, or makes it stale if they lie outside it. */
  private void markCells(long first, long end) {
    if (cellsStale) {
      return;
    }
    if (first < cellOrigin || end - cellOrigin > cellClusters) {
      staleCells();
      return;
    }
    setCells(cells, (first - cellOrigin) >>> cellShift, (end - 1 - cellOrigin) >>> cellShift);
  }

  /**
   * Rebuilds the cell filter: cells of the smallest power-of-two size that keeps the bits within
   * {@value #CELL_BITS_PER_RUN} per run, over the runs' clusters and an eighth more.
   */
  private void buildCells() {
    cellsStale = false;
    removesSinceCells = 0;
    cellRebuilds++;
    if (blockCount == 0 && tailSize == 0) {
      cells = new long[0];
      cellClusters = 0;
      return;
    }
    long origin = blockCount > 0 ? firsts[0] : tailStarts[0];
    long reach = (tailSize > 0 ? tailEnds[tailSize - 1] : packedEnd()) - origin;
    reach += reach >>> CELL_ROOM_SHIFT;
    long maxBits = Math.max(Long.SIZE, CELL_BITS_PER_RUN * runCount());
    int shift = 0;
    while ((reach - 1) >>> shift >= maxBits) {
      shift++;
    }
    int length = Math.toIntExact((((reach - 1) >>> shift) >>> 6) + 1);
    long[] filter = cells.length == length ? cells : new long[length];
    Arrays.fill(filter, 0);
    RunList block = new RunList(maxBlockRuns);
    for (int k = 0; k < blockCount; k++) {
      block.clear();
      decodeInto(k, block);
      for (int i = 0; i < block.size(); i++) {
        setCells(filter, (block.start(i) - origin) >>> shift, (block.end(i) - 1 - origin) >>> shift);
      }
    }
    for (int i = 0; i < tailSize; i++) {
      setCells(filter, (tailStarts[i] - origin) >>> shift, (tailEnds[i] - 1 - origin) >>> shift);
    }
    cells = filter;
    cellOrigin = origin;
    cellShift = shift;
    cellClusters = (long) length << 6 << shift;
  }

  /** Sets bits {@code [from, to]} of {@code filter}. */
  private static void setCells(long[] filter, long from, long to) {
    int first = (int) (from >>> 6);
    int last = (int) (to >>> 6);
    long low = -1L << from;
    long high = -1L >>> (63 - (to & 63));
    if (first == last) {
      filter[first] |= low & high;
      return;
    }
    filter[first] |= low;
    Arrays.fill(filter, first + 1, last, -1L);
    filter[last] |= high;
  }

  @Override
  public String toString() {
    return String.format("runs[%d runs in %d blocks of at most %d and a tail of %d, enabled %s, %d bytes]",
        runCount, blockCount, maxBlockRuns, tailSize, "0x" + Integer.toHexString(enabledMask()),
        memoryBytes());
  }
}
