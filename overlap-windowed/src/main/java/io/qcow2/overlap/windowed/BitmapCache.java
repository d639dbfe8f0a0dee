package io.qcow2.overlap.windowed;

import java.util.Arrays;

/**
 * The hot form of recently used windows: per-cluster type maps ({@code short[W]}, one type mask per
 * cluster) in a fixed number of cache lines, evicted least recently used first.
 *
 * <p>Loading a window expands its fragment list into a line; evicting a line rebuilds the window's
 * fragment list only if the map was modified while cached, otherwise the map is just dropped. Line
 * maps are allocated on first use and then reused, so an image that never fills the cache never
 * pays for the whole budget.
 *
 * <p>Single-threaded, like the checker that owns it.
 */
final class BitmapCache {
  /*
   * The series (patch 1, build_window_bitmap) found the victim by scanning every cached window for
   * the oldest age, O(lines) per miss, and kept a cached_windows_index per window that nothing read
   * (Stefan Hajnoczi's review). Here the lines form an intrusive doubly linked LRU list in int
   * arrays: a hit moves its line to the head, a miss takes the tail. Both O(1). Each slot knows its
   * line (slotLine) and each line its slot (lineSlot); both directions are needed: the first to find
   * a window's map, the second to detach the evicted window.
   */

  private static final int NONE = -1;
  private static final int[] NO_INTS = new int[0];
  private static final int INITIAL_LINES = 8;

  private final FragmentList fragments;
  private final int windowSize;
  private final int capacity;
  /** Per window slot: its line, or NONE. */
  private int[] slotLine = NO_INTS;
  /**
   * Per line; the arrays grow (doubling, up to capacity) and maps are allocated as lines are first
   * used, so a large budget costs nothing until it is needed. Lines {@code [0, used)} are live.
   */
  private short[][] maps;
  private int[] lineSlot;
  private int[] newer;
  private int[] older;
  private boolean[] dirty;
  private int used;
  /** Most and least recently used lines, or NONE when empty. */
  private int head = NONE;
  private int tail = NONE;
  private long listToBitmap;
  private long bitmapToList;
  private long dropped;

  /**
   * @param capacity number of lines, at least 1
   */
  BitmapCache(FragmentList fragments, int windowSize, int capacity) {
    assert capacity >= 1;
    this.fragments = fragments;
    this.windowSize = windowSize;
    this.capacity = capacity;
    int lines = Math.min(capacity, INITIAL_LINES);
    this.maps = new short[lines][];
    this.lineSlot = new int[lines];
    this.newer = new int[lines];
    this.older = new int[lines];
    this.dirty = new boolean[lines];
  }

  int capacity() {
    return capacity;
  }

  /** Registers a new window slot, not cached. */
  void addSlot(int slot) {
    if (slot == slotLine.length) {
      int grown = Math.max(4, slotLine.length * 2);
      slotLine = Arrays.copyOf(slotLine, grown);
      Arrays.fill(slotLine, slot, grown, NONE);
    }
    assert slotLine[slot] == NONE;
  }

  /** Whether slots {@code [0, slots)} are all registered. */
  boolean covers(int slots) {
    return slots <= slotLine.length;
  }

  boolean isCached(int slot) {
    return slotLine[slot] != NONE;
  }

  /**
   * The line holding the window's map, now the most recently used; expands the window's fragment
   * list into a line (evicting the least recently used one if all are taken) on a miss.
   */
  int load(int slot) {
    int line = slotLine[slot];
    if (line != NONE) {
      if (line != head) {
        unlink(line);
        pushHead(line);
      }
      return line;
    }
    if (used < capacity) {
      line = used++;
      if (line == maps.length) {
        int lines = (int) Math.min(capacity, 2L * maps.length);
        maps = Arrays.copyOf(maps, lines);
        lineSlot = Arrays.copyOf(lineSlot, lines);
        newer = Arrays.copyOf(newer, lines);
        older = Arrays.copyOf(older, lines);
        dirty = Arrays.copyOf(dirty, lines);
      }
      maps[line] = new short[windowSize];
    } else {
      line = tail;
      evict(line);
    }
    fragments.expand(slot, maps[line]);
    listToBitmap++;
    slotLine[slot] = line;
    lineSlot[line] = slot;
    dirty[line] = false;
    pushHead(line);
    return line;
  }

  /** The per-cluster type map of a loaded line; valid until the next {@link #load}. */
  short[] map(int line) {
    return maps[line];
  }

  /** Records that the line's map differs from its window's fragment list. */
  void markDirty(int line) {
    dirty[line] = true;
  }

  private void evict(int line) {
    int slot = lineSlot[line];
    if (dirty[line]) {
      fragments.rebuild(slot, maps[line]);
      bitmapToList++;
    }
    dropped++;
    slotLine[slot] = NONE;
    unlink(line);
  }

  private void unlink(int line) {
    int n = newer[line];
    int o = older[line];
    if (n == NONE) {
      head = o;
    } else {
      older[n] = o;
    }
    if (o == NONE) {
      tail = n;
    } else {
      newer[o] = n;
    }
  }

  private void pushHead(int line) {
    newer[line] = NONE;
    older[line] = head;
    if (head == NONE) {
      tail = line;
    } else {
      newer[head] = line;
    }
    head = line;
  }

  /** List-to-bitmap conversions (window expansions). */
  long listToBitmap() {
    return listToBitmap;
  }

  /** Bitmap-to-list conversions (modified windows written back). */
  long bitmapToList() {
    return bitmapToList;
  }

  /** Maps dropped from the cache (evictions; each is also a write-back if the map was modified). */
  long dropped() {
    return dropped;
  }

  long memoryBytes() {
    int lines = maps.length;
    return Memory.BITMAP_CACHE + Memory.intArray(slotLine.length) + Memory.refArray(lines)
        + used * Memory.shortArray(windowSize) + 3 * Memory.intArray(lines)
        + Memory.booleanArray(lines);
  }

  /**
   * Checks the LRU list, the slot-line links, and that every clean map equals its fragment list.
   *
   * @throws IllegalStateException describing the first violation
   */
  void validate() {
    FragmentList.check(used <= capacity, "%d lines used of %d", used, capacity);
    int count = 0;
    int previous = NONE;
    for (int line = head; line != NONE; line = older[line]) {
      FragmentList.check(count++ < used, "LRU list has a cycle or more than %d lines", used);
      FragmentList.check(line < used, "line %d in the LRU list, only %d used", line, used);
      FragmentList.check(newer[line] == previous, "line %d: newer %d != %d", line, newer[line], previous);
      int slot = lineSlot[line];
      FragmentList.check(slot >= 0 && slot < slotLine.length && slotLine[slot] == line,
          "line %d claims slot %d, which does not point back", line, slot);
      FragmentList.check(maps[line] != null && maps[line].length == windowSize, "line %d map", line);
      if (!dirty[line]) {
        short[] expected = new short[windowSize];
        fragments.expand(slot, expected);
        FragmentList.check(Arrays.equals(expected, maps[line]),
            "clean line %d differs from slot %d's fragment list", line, slot);
      }
      previous = line;
    }
    FragmentList.check(count == used, "LRU list holds %d lines, %d used", count, used);
    FragmentList.check(tail == previous, "tail %d != last line %d", tail, previous);
    int cached = 0;
    for (int slot = 0; slot < slotLine.length; slot++) {
      int line = slotLine[slot];
      if (line != NONE) {
        cached++;
        FragmentList.check(line >= 0 && line < used && lineSlot[line] == slot,
            "slot %d points to line %d, which does not point back", slot, line);
      }
    }
    FragmentList.check(cached == used, "%d slots cached, %d lines used", cached, used);
    FragmentList.check(listToBitmap == dropped + used, "expansions %d != dropped %d + cached %d",
        listToBitmap, dropped, used);
  }
}
