package io.qcow2.overlap.windowed;

import java.util.Arrays;

/**
 * Maps window indices (cluster index / W, up to 2^47) to dense slot numbers {@code 0, 1, 2, ...},
 * allocated in first-use order; the per-window state lives in primitive arrays indexed by slot.
 *
 * <p>Windows below {@link #DENSE_WINDOWS} are looked up in a plain array that grows (doubling) only
 * as far as the highest such window used, so it costs at most 4 bytes per window of a real image
 * and at most {@code 4 * DENSE_WINDOWS} bytes (1 MiB) however hostile the offsets. Windows above
 * are kept in an open-addressing hash table (linear probing, load at most 1/2), so a write to host
 * offset 2^55 costs one table entry, not a slot array proportional to the offset. Slots are never
 * freed: a window that loses all its metadata keeps its slot and an empty fragment list.
 */
final class WindowTable {
  /** Windows with an index below this are looked up by array index: 2^18 windows, 1 MiB at most. */
  static final long DENSE_WINDOWS = 1L << 18;

  // Distinct empty arrays, so that each is one object of the graph memoryBytes() describes.
  private static final int[] NO_DENSE = new int[0];
  private static final long[] NO_KEYS = new long[0];
  private static final int[] NO_SLOTS = new int[0];
  private static final int MIN_HASH_CAPACITY = 16;

  /** By window index below DENSE_WINDOWS: slot + 1, or 0 for none. */
  private int[] dense = NO_DENSE;
  /** Hash table for the other windows: keys, and slot + 1 (0 marks a free entry). */
  private long[] hashKeys = NO_KEYS;
  private int[] hashSlots = NO_SLOTS;
  private int hashSize;
  private int slots;

  /**
   * By window index below {@link #DENSE_WINDOWS} and the array's length: slot + 1, or 0 for none;
   * until the next {@link #findOrAdd}.
   */
  int[] dense() {
    return dense;
  }

  /** Number of slots handed out. */
  int slots() {
    return slots;
  }

  /** The window's slot, or -1 if it never had one. */
  int find(long window) {
    assert window >= 0 : window;
    if (window < DENSE_WINDOWS) {
      return window < dense.length ? dense[(int) window] - 1 : -1;
    }
    if (hashSize == 0) {
      return -1;
    }
    int mask = hashKeys.length - 1;
    for (int i = hash(window) & mask; ; i = (i + 1) & mask) {
      int slot = hashSlots[i];
      if (slot == 0) {
        return -1;
      }
      if (hashKeys[i] == window) {
        return slot - 1;
      }
    }
  }

  /** The window's slot, allocating slot number {@link #slots()} if it has none. */
  int findOrAdd(long window) {
    int slot = find(window);
    if (slot >= 0) {
      return slot;
    }
    slot = slots++;
    if (window < DENSE_WINDOWS) {
      if (window >= dense.length) {
        // Grow by a quarter: a real image's windows are used from 0 upwards, one after another.
        long length = Math.max(16, window + 1 + (window >> 2));
        dense = Arrays.copyOf(dense, (int) Math.min(length, DENSE_WINDOWS));
      }
      dense[(int) window] = slot + 1;
    } else {
      if (2 * (hashSize + 1) > hashKeys.length) {
        rehash(Math.max(MIN_HASH_CAPACITY, hashKeys.length * 2));
      }
      insert(window, slot + 1);
      hashSize++;
    }
    return slot;
  }

  private void insert(long window, int slotPlusOne) {
    int mask = hashKeys.length - 1;
    int i = hash(window) & mask;
    while (hashSlots[i] != 0) {
      i = (i + 1) & mask;
    }
    hashKeys[i] = window;
    hashSlots[i] = slotPlusOne;
  }

  private void rehash(int capacity) {
    long[] keys = hashKeys;
    int[] values = hashSlots;
    hashKeys = new long[capacity];
    hashSlots = new int[capacity];
    for (int i = 0; i < keys.length; i++) {
      if (values[i] != 0) {
        insert(keys[i], values[i]);
      }
    }
  }

  /** Receives windows that have a slot; returns {@code false} to stop. */
  interface SlotVisitor {
    boolean visit(long window, int slot);
  }

  /**
   * Visits every window in {@code [first, last]} that has a slot, in no particular order, until the
   * visitor returns {@code false}; returns {@code false} if it stopped early. Examines at most
   * {@link #scanCost()} entries, so ranges with more windows than that are cheaper to visit this
   * way than window by window.
   */
  boolean forEachInRange(long first, long last, SlotVisitor visitor) {
    long denseEnd = Math.min(last, dense.length - 1L);
    for (long window = first; window <= denseEnd; window++) {
      int slot = dense[(int) window];
      if (slot != 0 && !visitor.visit(window, slot - 1)) {
        return false;
      }
    }
    if (last >= DENSE_WINDOWS) {
      for (int i = 0; i < hashSlots.length; i++) {
        long window = hashKeys[i];
        if (hashSlots[i] != 0 && window >= first && window <= last
            && !visitor.visit(window, hashSlots[i] - 1)) {
          return false;
        }
      }
    }
    return true;
  }

  /** Entries {@link #forEachInRange} examines at most. */
  long scanCost() {
    return (long) dense.length + hashSlots.length;
  }

  /** Fibonacci hashing: the window indices of one image are consecutive-ish, so mix them well. */
  private static int hash(long window) {
    return (int) ((window * 0x9E37_79B9_7F4A_7C15L) >>> 32);
  }

  long memoryBytes() {
    return Memory.WINDOW_TABLE + Memory.intArray(dense.length) + Memory.longArray(hashKeys.length)
        + Memory.intArray(hashSlots.length);
  }

  /**
   * Checks that every slot number is handed out exactly once and hash entries are findable.
   *
   * @throws IllegalStateException describing the first violation
   */
  void validate() {
    boolean[] seen = new boolean[slots];
    FragmentList.check(dense.length <= DENSE_WINDOWS, "dense table of %d > %d", dense.length, DENSE_WINDOWS);
    for (int window = 0; window < dense.length; window++) {
      if (dense[window] != 0) {
        markSeen(seen, dense[window] - 1, window);
      }
    }
    int used = 0;
    for (int i = 0; i < hashSlots.length; i++) {
      if (hashSlots[i] != 0) {
        used++;
        long window = hashKeys[i];
        FragmentList.check(window >= DENSE_WINDOWS, "window %d hashed but below the dense limit", window);
        markSeen(seen, hashSlots[i] - 1, window);
        FragmentList.check(find(window) == hashSlots[i] - 1, "window %d not found by probing", window);
      }
    }
    FragmentList.check(used == hashSize, "hash holds %d windows, counted %d", used, hashSize);
    FragmentList.check(hashKeys.length == 0 || 2 * hashSize <= hashKeys.length, "hash too full");
    for (int slot = 0; slot < slots; slot++) {
      FragmentList.check(seen[slot], "slot %d belongs to no window", slot);
    }
  }

  private static void markSeen(boolean[] seen, int slot, long window) {
    FragmentList.check(slot >= 0 && slot < seen.length, "window %d has slot %d of %d", window, slot, seen.length);
    FragmentList.check(!seen[slot], "slot %d belongs to two windows", slot);
    seen[slot] = true;
  }
}
