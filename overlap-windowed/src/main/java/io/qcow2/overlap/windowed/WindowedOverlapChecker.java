package io.qcow2.overlap.windowed;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;

/**
 * The {@code windowed} strategy: the cluster space is cut into windows of W clusters; each window
 * keeps its metadata as a sorted run-length {@link FragmentList}; metadata covering whole windows is
 * kept as window ranges in a {@link SpanList}; blocks being modified in bursts are expanded into
 * per-cluster type maps in a small {@link BitmapCache}.
 *
 * <p>A {@code check} costs O(log runs) per window it touches (a binary search in the window's
 * fragments, or a read of a cached map) and never loads anything into the cache. {@code enter}
 * and {@code remove} cost O(log runs + runs changed) per window they touch plus one copy of the
 * window's fragment array, or O(1) per cluster on a cached block; whole windows cost one span
 * edit, so any valid range is bounded by the windows and runs it creates or changes, not by the
 * clusters it covers. Ranges spanning more windows than the window table has entries visit only
 * the windows that have slots.
 *
 * <p><b>Not thread-safe.</b> One checker belongs to one open image; the engine serialises every call
 * on it, as QEMU does under the image's lock.
 */
final class WindowedOverlapChecker extends OverlapChecker {
  /*
   * Structure of QEMU's qcow2-overlap.c (Max Reitz, "qcow2: Add new overlap check functions", v2
   * patch 1), with the review findings fixed (runs restart counting their first cluster, lengths
   * are stored minus one and take every spare bit, nine type bits, O(1) LRU eviction, no unused
   * per-window index, per-window multi-cluster checks), and its weak spots removed:
   *
   * - The series expanded a window into the cache before every query, so a check on an uncached
   *   window cost O(W); the runs are sorted, so a check here is a binary search in the list, and
   *   only bursts of modifications load maps (see BitmapCache).
   * - Its cache held whole windows; here a line holds a block of min(W, 4096) clusters (8 KiB), so
   *   windows can be large (the default, 65536, is the thread's own proposal for 20 kB per TB)
   *   while a burst still expands only 4096 clusters.
   * - Its cache was allocated up to the budget and stayed; here idle lines are freed.
   * - enter() of a huge valid range cost O(clusters); whole windows go into spans here.
   */

  /** Statistics key: blocks expanded into per-cluster maps. */
  static final String STAT_LIST_TO_BITMAP = "list-to-bitmap";
  /** Statistics key: modified maps written back as fragment lists. */
  static final String STAT_BITMAP_TO_LIST = "bitmap-to-list";
  /** Statistics key: maps dropped from the cache (evicted or freed when idle). */
  static final String STAT_BITMAPS_DROPPED = "bitmaps-dropped";
  /** Clusters per cache line, at most: a map of 8 KiB. */
  static final int MAX_BLOCK_SIZE = 4096;

  private final int windowBits;
  private final int blockBits;
  /** Windows in the 2^56-byte host space. */
  private final long windowLimit;
  private final WindowTable table = new WindowTable();
  private final FragmentList fragments;
  private final SpanList spans = new SpanList();
  private final BitmapCache cache;
  /*
   * Every cluster of [uniformFirst, uniformEnd) holds exactly uniformTypes (0: no metadata): the
   * run or gap the last single-window check found. A modification forgets it if it meets it, or
   * if it leaves a span or a cached line (the lists alone no longer tell every cluster's types).
   * Guest writes are often sequential, so many checks land in it: two comparisons. (A second
   * stretch of this kind, the check before the last one's, answered about 6 000 more of W1's
   * checks but made W3's random checks, which miss every stretch, 10-50 % slower replayed: tried
   * and reverted, 2026-11-30 15:55 UTC. See README "fourth pass".)
   */
  private long uniformFirst;
  private long uniformEnd;
  private int uniformTypes;
  /*
   * The same for the clusters the last enter appended to a window: kept apart from the stretch a
   * check finds, because the engine checks other structures (the refcount block, the previous L2
   * table, the L1 table) between allocating a structure and writing it, and each of those checks
   * would replace a single stretch (W1: 8 206 of 36 972 checks land in the clusters just entered;
   * with one stretch 3 of them were answered by it).
   */
  private long appendedFirst;
  private long appendedEnd;
  private int appendedTypes;
  /** The stretch appended before that one: QEMU fills the previous L2 table after allocating the next. */
  private long previousFirst;
  private long previousEnd;
  private int previousTypes;
  /** Whether the current enter appended to a list with no line or span anywhere (see enterClusters). */
  private boolean appendedToPlainList;
  /*
   * What a single-window check reads, copied from the table and the fragment lists after every
   * modification. Between two checks the engine does its own work (a write system call, its L2
   * and refcount caches), so a check starts with cold caches and pays a dependent miss for every
   * reference it follows; these copies save the table, the span list, the cache and the fragment
   * list objects on the way to a window's runs. plainLists: no spans and no cached line, so the
   * fragment lists alone answer every check.
   */
  private int[] denseSlots;
  private int[] windowSummaries;
  private int[][] windowLists;
  private char[][] windowIndexes;
  private int growingSlot;
  private int growingCount;
  private boolean plainLists;

  WindowedOverlapChecker(OverlapCheckerSetup setup, int windowSize, long cacheBytes) {
    super(setup);
    assert Integer.bitCount(windowSize) == 1 && windowSize <= WindowedOverlapCheckerProvider.MAX_WINDOW_SIZE;
    this.windowBits = Integer.numberOfTrailingZeros(windowSize);
    long clusters = MAX_HOST_OFFSET >>> setup.clusterBits();
    this.windowLimit = (clusters + windowSize - 1) >>> windowBits;
    this.fragments = new FragmentList(windowBits);
    int blockSize = blockSize(windowSize);
    this.cache = new BitmapCache(fragments, blockSize, cacheLines(windowSize, cacheBytes));
    this.blockBits = cache.blockBits();
    copyForChecks();
  }

  /** Refreshes the copies single-window checks read; after every modification. */
  private void copyForChecks() {
    copyListsForChecks();
    plainLists = spans.count() == 0 && cache.used() == 0;
  }

  /** As {@link #copyForChecks}, after a modification that left the spans and the cache alone. */
  private void copyListsForChecks() {
    denseSlots = table.dense();
    windowSummaries = fragments.summaries();
    windowLists = fragments.lists();
    windowIndexes = fragments.indexes();
    growingSlot = fragments.growingSlot();
    growingCount = fragments.growingCount();
  }

  /** Clusters per cache line for a window size. */
  static int blockSize(int windowSize) {
    return Math.min(windowSize, MAX_BLOCK_SIZE);
  }

  /** Cache lines a budget buys: one {@code char} per cluster per line, at least one line. */
  static int cacheLines(int windowSize, long cacheBytes) {
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, cacheBytes / bitmapBytes(windowSize)));
  }

  /** Bytes of one cache line's per-cluster map: the smallest valid cache budget. */
  static long bitmapBytes(int windowSize) {
    return (long) Character.BYTES * blockSize(windowSize);
  }

  int windowSize() {
    return 1 << windowBits;
  }

  int cacheCapacity() {
    return cache.capacity();
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    appendedToPlainList = false;
    enterRange(first, count, types);
    boolean oneWindow = first >>> windowBits == (first + count - 1) >>> windowBits;
    if (appendedToPlainList && oneWindow) {
      copyListsForChecks();   // an append to one window with no span or line anywhere adds neither
    } else {
      copyForChecks();
    }
    forgetStretch(first, first + count);
    if (appendedToPlainList && plainLists && oneWindow) {
      // Appended past the window's last run, so these clusters held nothing and now hold exactly
      // the types entered: the engine's next write is usually to the structure it just allocated
      // (QEMU fills a new L2 table or refcount block).
      previousFirst = appendedFirst;
      previousEnd = appendedEnd;
      previousTypes = appendedTypes;
      appendedFirst = first;
      appendedEnd = first + count;
      appendedTypes = types;
    }
  }

  /** Forgets each remembered stretch that meets {@code [first, end)}, both if the lists are not plain. */
  private void forgetStretch(long first, long end) {
    if (!plainLists || uniformFirst < end && first < uniformEnd) {
      uniformEnd = uniformFirst;
    }
    if (!plainLists || appendedFirst < end && first < appendedEnd) {
      appendedEnd = appendedFirst;
    }
    if (!plainLists || previousFirst < end && first < previousEnd) {
      previousEnd = previousFirst;
    }
  }

  private void remember(long first, long end, int types) {
    uniformFirst = first;
    uniformEnd = end;
    uniformTypes = types;
  }

  private void enterRange(long first, long count, int types) {
    long end = first + count;
    long wholeFirst = (first + (1L << windowBits) - 1) >>> windowBits;
    long wholeEnd = end >>> windowBits;
    if (wholeFirst < wholeEnd) {
      spans.enter(wholeFirst, wholeEnd, types);
      if (first < wholeFirst << windowBits) {
        enterInWindow(first, wholeFirst << windowBits, types);
      }
      if (wholeEnd << windowBits < end) {
        enterInWindow(wholeEnd << windowBits, end, types);
      }
      return;
    }
    // At most two windows, neither whole.
    long boundary = Math.min(end, ((first >>> windowBits) + 1) << windowBits);
    enterInWindow(first, boundary, types);
    if (boundary < end) {
      enterInWindow(boundary, end, types);
    }
  }

  /** Enters clusters {@code [first, end)}, which lie in one window. */
  private void enterInWindow(long first, long end, int types) {
    long window = first >>> windowBits;
    long windowStart = window << windowBits;
    modifyWindow(slotOrAdd(window), (int) (first - windowStart), (int) (end - windowStart), types, true);
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    removeRange(first, count, types);
    copyForChecks();
    forgetStretch(first, first + count);
  }

  private void removeRange(long first, long count, int types) {
    long end = first + count;
    long wholeFirst = (first + (1L << windowBits) - 1) >>> windowBits;
    long wholeEnd = end >>> windowBits;
    if (wholeFirst < wholeEnd) {
      spans.remove(wholeFirst, wholeEnd, types);
      WindowTable.SlotVisitor clearWindow = (window, slot) -> {
        if (mayHoldMetadata(slot)) {
          modifyWindow(slot, 0, 1 << windowBits, types, false);
        }
        return true;
      };
      if (wholeEnd - wholeFirst > table.scanCost()) {
        // More windows than the image has slots (say, all of 2^56): visit the slots.
        table.forEachInRange(wholeFirst, wholeEnd - 1, clearWindow);
      } else {
        for (long window = wholeFirst; window < wholeEnd; window++) {
          int slot = table.find(window);
          if (slot >= 0) {
            clearWindow.visit(window, slot);
          }
        }
      }
      if (first < wholeFirst << windowBits) {
        removeInWindow(first, wholeFirst << windowBits, types);
      }
      if (wholeEnd << windowBits < end) {
        removeInWindow(wholeEnd << windowBits, end, types);
      }
      return;
    }
    long boundary = Math.min(end, ((first >>> windowBits) + 1) << windowBits);
    removeInWindow(first, boundary, types);
    if (boundary < end) {
      removeInWindow(boundary, end, types);
    }
  }

  /** Removes types from clusters {@code [first, end)}, which lie in one window but do not fill it. */
  private void removeInWindow(long first, long end, int types) {
    long window = first >>> windowBits;
    long windowStart = window << windowBits;
    int spanned = spans.typesIn(window, window + 1, types);
    int slot;
    if (spanned != 0) {
      // The window's spanned types now differ between its clusters: move them into its fragments.
      spans.remove(window, window + 1, spanned);
      slot = slotOrAdd(window);
      modifyWindow(slot, 0, 1 << windowBits, spanned, true);
    } else {
      slot = table.find(window);
      if (slot < 0 || !mayHoldMetadata(slot)) {
        return;
      }
    }
    modifyWindow(slot, (int) (first - windowStart), (int) (end - windowStart), types, false);
  }

  /**
   * Adds ({@code enter}) or clears {@code types} on clusters {@code [from, to)} of the window:
   * in the maps of its cached blocks, and in its fragment list elsewhere.
   */
  private void modifyWindow(int slot, int from, int to, int types, boolean enter) {
    int firstBlock = from >>> blockBits;
    int lastBlock = (to - 1) >>> blockBits;
    if (plainLists && enter && fragments.append(slot, from, to, types)) {
      appendedToPlainList = true;
      return;   // no line anywhere: the clock only ages lines, and appends make no burst
    }
    cache.tick();
    // Structures allocated at the end of the file: O(1) on the list, no burst (the runs of cached
    // blocks, which may be stale in the list, lie elsewhere; their write-back merges at the edges).
    if (enter && cache.noLineIn(slot, firstBlock, lastBlock) && fragments.append(slot, from, to, types)) {
      return;
    }
    cache.modify(slot, firstBlock);
    if (!cache.hasLines(slot)) {
      editList(slot, from, to, types, enter);
      return;
    }
    int pending = -1;
    for (int block = firstBlock; block <= lastBlock; block++) {
      int blockStart = block << blockBits;
      int blockFrom = Math.max(from, blockStart);
      int blockTo = Math.min(to, blockStart + (1 << blockBits));
      int line = cache.lineOf(slot, block);
      if (line < 0) {
        if (pending < 0) {
          pending = blockFrom;
        }
        continue;
      }
      if (pending >= 0) {
        editList(slot, pending, blockFrom, types, enter);
        pending = -1;
      }
      cache.use(line);
      char[] map = cache.map(line);
      boolean changed = false;
      for (int i = blockFrom - blockStart; i < blockTo - blockStart; i++) {
        int old = map[i];
        int updated = enter ? old | types : old & ~types;
        if (updated != old) {
          map[i] = (char) updated;
          changed = true;
        }
      }
      if (changed) {
        cache.markDirty(line);
      }
    }
    if (pending >= 0) {
      editList(slot, pending, to, types, enter);
    }
  }

  private void editList(int slot, int from, int to, int types, boolean enter) {
    if (enter) {
      fragments.enter(slot, from, to, types);
    } else {
      fragments.remove(slot, from, to, types);
    }
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    long end = first + count;
    if (first >= uniformFirst && end <= uniformEnd) {
      return uniformTypes & wanted;
    }
    if (first >= appendedFirst && end <= appendedEnd) {
      return appendedTypes & wanted;
    }
    if (first >= previousFirst && end <= previousEnd) {
      return previousTypes & wanted;
    }
    long firstWindow = first >>> windowBits;
    if (plainLists && firstWindow == (end - 1) >>> windowBits && firstWindow < denseSlots.length) {
      int slot = denseSlots[(int) firstWindow] - 1;
      if (slot < 0) {
        return 0;
      }
      // The summary answers a check past the window's last run (0 for an empty list) without
      // reading the list, and tells the search its chunk without reading the index's header.
      int summary = windowSummaries[slot];
      long windowStart = firstWindow << windowBits;
      int from = (int) (first - windowStart);
      int lastEnd = summary & FragmentList.END_MASK;
      if (from >= lastEnd) {
        remember(windowStart + lastEnd, windowStart + (1L << windowBits), 0);
        return 0;
      }
      int[] list = windowLists[slot];
      int types = fragments.typesIn(list, slot == growingSlot ? growingCount : list.length,
          windowIndexes == null ? null : windowIndexes[slot], summary, from, (int) (end - windowStart), wanted);
      if (fragments.uniformStart() < fragments.uniformEnd()) {
        remember(windowStart + fragments.uniformStart(), windowStart + fragments.uniformEnd(),
            fragments.uniformTypes());
      }
      return types;
    }
    long lastWindow = (end - 1) >>> windowBits;
    int found = spans.typesIn(firstWindow, lastWindow + 1, wanted);
    if (found == wanted) {
      return found;
    }
    if (firstWindow == lastWindow) {
      int slot = table.find(firstWindow);
      if (slot < 0) {
        return found;
      }
      long windowStart = firstWindow << windowBits;
      int from = (int) (first - windowStart);
      int to = (int) (end - windowStart);
      int block = from >>> blockBits;
      boolean lines = cache.hasLines(slot);
      if (spans.count() > 0 || block != (to - 1) >>> blockBits || lines && cache.lineOf(slot, block) >= 0) {
        return found | checkWindow(slot, from, to, wanted);
      }
      // One block, answered by the fragment list: remember the run or gap it lies in, within the
      // block if other blocks of the window are cached (their fragments may be stale).
      int types = fragments.typesIn(slot, from, to, wanted);
      if (fragments.uniformStart() < fragments.uniformEnd()) {
        int blockStart = lines ? block << blockBits : 0;
        int blockEnd = lines ? blockStart + (1 << blockBits) : 1 << windowBits;
        remember(windowStart + Math.max(fragments.uniformStart(), blockStart),
            windowStart + Math.min(fragments.uniformEnd(), blockEnd), fragments.uniformTypes());
      }
      return types;
    }
    int[] result = {found};
    WindowTable.SlotVisitor checkWindow = (window, slot) -> {
      long windowStart = window << windowBits;
      int from = (int) (Math.max(first, windowStart) - windowStart);
      int to = (int) (Math.min(end, windowStart + (1L << windowBits)) - windowStart);
      result[0] |= checkWindow(slot, from, to, wanted);
      return result[0] != wanted;
    };
    if (lastWindow - firstWindow >= table.scanCost()) {
      table.forEachInRange(firstWindow, lastWindow, checkWindow);
    } else {
      for (long window = firstWindow; window <= lastWindow; window++) {
        int slot = table.find(window);
        if (slot >= 0 && !checkWindow.visit(window, slot)) {
          break;
        }
      }
    }
    return result[0];
  }

  /**
   * The wanted types in clusters {@code [from, to)} of the window: from the maps of its cached
   * blocks (whose fragments may be stale), from its fragment list elsewhere. Reads only.
   */
  private int checkWindow(int slot, int from, int to, int wanted) {
    if (!cache.hasLines(slot)) {
      return fragments.typesIn(slot, from, to, wanted);
    }
    int found = 0;
    for (int block = from >>> blockBits; block <= (to - 1) >>> blockBits && found != wanted; block++) {
      int blockStart = block << blockBits;
      int blockFrom = Math.max(from, blockStart);
      int blockTo = Math.min(to, blockStart + (1 << blockBits));
      int line = cache.lineOf(slot, block);
      if (line < 0) {
        found |= fragments.typesIn(slot, blockFrom, blockTo, wanted);
      } else {
        char[] map = cache.map(line);
        for (int i = blockFrom - blockStart; i < blockTo - blockStart; i++) {
          found |= map[i];
        }
        found &= wanted;
      }
    }
    return found;
  }

  /** Whether the window may hold metadata: cached, or a non-empty fragment list. */
  private boolean mayHoldMetadata(int slot) {
    return cache.hasLines(slot) || !fragments.isEmpty(slot);
  }

  private int slotOrAdd(long window) {
    int slots = table.slots();
    int slot = table.findOrAdd(window);
    if (slot == slots) {
      fragments.addSlot(slot);
      cache.addSlot(slot);
    }
    return slot;
  }

  @Override
  protected void addStats(Map<String, Long> stats) {
    stats.put(STAT_LIST_TO_BITMAP, cache.listToBitmap());
    stats.put(STAT_BITMAP_TO_LIST, cache.bitmapToList());
    stats.put(STAT_BITMAPS_DROPPED, cache.dropped());
  }

  /** Bytes held: this object, the window table, every fragment list, the spans and the cache. */
  @Override
  public long memoryBytes() {
    return Memory.CHECKER + table.memoryBytes() + fragments.memoryBytes() + spans.memoryBytes()
        + cache.memoryBytes();
  }

  /** Bytes of the cache alone (maps and their bookkeeping), for the memory report. */
  long cacheMemoryBytes() {
    return cache.memoryBytes();
  }

  /** Fragments over all windows, for tests and the memory report. */
  long fragmentCount() {
    return fragments.fragmentCount();
  }

  /**
   * The self-check of one step: the spans, the cache's lists and links, and the window holding
   * {@code offset} (its fragments, and its cached maps against them). Costs O(spans + lines +
   * runs of the window + B), where {@link #validate()} costs O(everything).
   *
   * @throws IllegalStateException describing the first violation
   */
  void validateAround(long offset) {
    validateUniformStretch();
    spans.validate(windowLimit);
    long window = (offset >>> clusterBits()) >>> windowBits;
    int slot = table.find(window);
    if (slot >= 0) {
      FragmentList.check(slot < fragments.slots() && cache.covers(slot + 1), "slot %d unregistered", slot);
      fragments.validate(slot);
    }
    cache.validateLines(slot < 0 ? Integer.MAX_VALUE : slot);
  }

  private void validateUniformStretch() {
    validateStretch(uniformFirst, uniformEnd, uniformTypes);
    validateStretch(appendedFirst, appendedEnd, appendedTypes);
    validateStretch(previousFirst, previousEnd, previousTypes);
  }

  private void validateStretch(long uniformFirst, long uniformEnd, int uniformTypes) {
    if (uniformFirst >= uniformEnd) {
      return;
    }
    long window = uniformFirst >>> windowBits;
    FragmentList.check(window == (uniformEnd - 1) >>> windowBits, "uniform stretch [%d, %d) crosses windows",
        uniformFirst, uniformEnd);
    FragmentList.check(spans.count() == 0, "uniform stretch remembered with spans present");
    int slot = table.find(window);
    FragmentList.check(slot >= 0, "uniform stretch in window %d, which has no slot", window);
    int from = (int) (uniformFirst - (window << windowBits));
    int to = (int) (uniformEnd - (window << windowBits));
    for (int block = from >>> blockBits; block <= (to - 1) >>> blockBits; block++) {
      FragmentList.check(cache.lineOf(slot, block) < 0, "uniform stretch over cached block %d", block);
    }
    FragmentList.check(fragments.holdsExactly(slot, from, to, uniformTypes),
        "clusters [%d, %d) remembered as all holding 0x%x do not", uniformFirst, uniformEnd, uniformTypes);
  }

  /** Lines the cache holds now, for tests and the memory report. */
  int cachedLines() {
    return cache.used();
  }

  /** Spans of whole windows, for tests. */
  int spanCount() {
    return spans.count();
  }

  /** The fragments of a window as written back, for tests. */
  int[] fragmentsOfWindow(long window) {
    int slot = table.find(window);
    return slot < 0 ? new int[0] : fragments.fragments(slot);
  }

  FragmentList fragmentList() {
    return fragments;
  }

  /**
   * Checks the window table, every fragment list, the spans and the cache, and that they agree on
   * the number of slots.
   *
   * @throws IllegalStateException describing the first violation
   */
  @Override
  public void validate() {
    validateUniformStretch();
    table.validate();
    fragments.validate();
    spans.validate(windowLimit);
    cache.validate();
    FragmentList.check(fragments.slots() == table.slots(), "fragment lists for %d slots, table has %d",
        fragments.slots(), table.slots());
    FragmentList.check(cache.covers(table.slots()), "cache does not cover %d slots", table.slots());
  }
}
