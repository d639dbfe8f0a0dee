package io.qcow2.format;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.function.Supplier;

/**
 * A bounded cache of one-cluster metadata tables (L2 tables, refcount blocks) keyed by a primitive
 * {@code long}, QEMU's {@code Qcow2Cache}: at most {@link #capacity()} tables stay cached between
 * operations; clean tables are evicted by a clock (second-chance) sweep.
 *
 * <p>The cache never writes: a dirty table stays cached until its owner has written it and calls
 * {@link #markAllClean}. So an operation that dirties more tables than the capacity grows the
 * cache until it commits; {@link #trim} then brings it back to the capacity. The owner decides
 * when to commit (in crash-safe order: refcount blocks before the L2 tables that need them) and
 * may commit early when {@link #isFullOfDirty} says so.
 *
 * <p><b>An array returned by {@link #get} or {@link #put} is valid until the next {@link #put}</b>:
 * the array of an evicted clean table is reused for the next one read, so that a scan of a large
 * image allocates nothing per table.
 */
final class TableCache<T> {
  private static final int EMPTY = -1;

  private final int capacity;
  private final Supplier<T> newTable;
  private long[] keys = new long[16];
  private Object[] tables = new Object[16];
  private boolean[] dirty = new boolean[16];
  private boolean[] referenced = new boolean[16];
  private int size;
  private int dirtyCount;
  private int hand;
  /** Open addressing, linear probing: slot index + 1 of the key hashed here, 0 for none. */
  private int[] index = new int[32];

  /**
   * @param capacity tables kept between operations (at least 1)
   * @param newTable a new, empty table
   */
  TableCache(int capacity, Supplier<T> newTable) {
    checkArgument(capacity >= 1, "table cache capacity must be at least 1, not %s", capacity);
    this.capacity = capacity;
    this.newTable = newTable;
  }

  int capacity() {
    return capacity;
  }

  /** Tables cached now (more than the capacity while an operation holds many dirty ones). */
  int size() {
    return size;
  }

  int dirtyCount() {
    return dirtyCount;
  }

  /** Whether every cached table is dirty and the cache is at or above its capacity. */
  boolean isFullOfDirty() {
    return dirtyCount >= capacity;
  }

  /** The cached table for {@code key}, or null. */
  @SuppressWarnings("unchecked")
  T get(long key) {
    int slot = find(key);
    if (slot == EMPTY) {
      return null;
    }
    referenced[slot] = true;
    return (T) tables[slot];
  }

  boolean contains(long key) {
    return find(key) != EMPTY;
  }

  /**
   * A table to cache under {@code key} (replacing any cached one, which must be clean or is
   * overwritten): an evicted clean table's array when the cache is full, else a new one. The
   * caller fills it; it is clean until {@link #markDirty}.
   */
  @SuppressWarnings("unchecked")
  T put(long key) {
    int slot = find(key);
    if (slot != EMPTY) {
      referenced[slot] = true;
      return (T) tables[slot];
    }
    T table = null;
    if (size >= capacity) {
      int victim = cleanVictim();
      if (victim != EMPTY) {
        table = (T) tables[victim];
        removeSlot(victim);
      }
    }
    if (table == null) {
      table = newTable.get();
    }
    slot = size++;
    if (slot == keys.length) {
      int n = slot * 2;
      keys = Arrays.copyOf(keys, n);
      tables = Arrays.copyOf(tables, n);
      dirty = Arrays.copyOf(dirty, n);
      referenced = Arrays.copyOf(referenced, n);
    }
    keys[slot] = key;
    tables[slot] = table;
    dirty[slot] = false;
    referenced[slot] = true;
    if (size * 2 > index.length) {
      rehash(index.length * 2);
    } else {
      insertIndex(key, slot);
    }
    return table;
  }

  /** Caches {@code table} itself under {@code key} (a table built in memory, e.g. a copy). */
  void putTable(long key, T table) {
    put(key);
    tables[find(key)] = table;
  }

  /** Marks the cached table {@code key} as changed since it was last written. */
  void markDirty(long key) {
    int slot = find(key);
    assert slot != EMPTY : "not cached: " + key;
    if (!dirty[slot]) {
      dirty[slot] = true;
      dirtyCount++;
    }
  }

  boolean isDirty(long key) {
    int slot = find(key);
    return slot != EMPTY && dirty[slot];
  }

  /** The keys of the dirty tables, ascending. */
  long[] dirtyKeys() {
    long[] out = new long[dirtyCount];
    int n = 0;
    for (int i = 0; i < size; i++) {
      if (dirty[i]) {
        out[n++] = keys[i];
      }
    }
    Arrays.sort(out);
    return out;
  }

  /** After the owner wrote every dirty table. */
  void markAllClean() {
    Arrays.fill(dirty, 0, size, false);
    dirtyCount = 0;
  }

  /** Evicts clean tables until at most {@link #capacity()} remain (or only dirty ones do). */
  void trim() {
    while (size > capacity) {
      int victim = cleanVictim();
      if (victim == EMPTY) {
        return;
      }
      removeSlot(victim);
    }
  }

  /** Forgets every table, dirty ones included (their changes are dropped). */
  void clear() {
    Arrays.fill(tables, 0, size, null);
    size = 0;
    dirtyCount = 0;
    hand = 0;
    Arrays.fill(index, 0);
  }

  /** A clean slot not referenced since the hand last passed it (second chance), or EMPTY. */
  private int cleanVictim() {
    if (dirtyCount == size) {
      return EMPTY;
    }
    for (int steps = 0; steps < 2 * size + 1; steps++) {
      if (hand >= size) {
        hand = 0;
      }
      int slot = hand++;
      if (dirty[slot]) {
        continue;
      }
      if (referenced[slot]) {
        referenced[slot] = false;
        continue;
      }
      return slot;
    }
    return EMPTY;
  }

  /** Forgets the table {@code key}, dirty or not (a table the image no longer uses). */
  void remove(long key) {
    int slot = find(key);
    if (slot == EMPTY) {
      return;
    }
    if (dirty[slot]) {
      dirty[slot] = false;
      dirtyCount--;
    }
    removeSlot(slot);
  }

  /** Removes a clean slot; the last slot moves into its place. */
  private void removeSlot(int slot) {
    assert !dirty[slot];
    removeIndex(keys[slot]);
    int last = --size;
    if (slot != last) {
      keys[slot] = keys[last];
      tables[slot] = tables[last];
      dirty[slot] = dirty[last];
      referenced[slot] = referenced[last];
      relinkIndex(keys[slot], slot);
    }
    tables[last] = null;
  }

  private static int hash(long key) {
    long h = key * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 32));
  }

  private int find(long key) {
    int mask = index.length - 1;
    for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
      int v = index[i];
      if (v == 0) {
        return EMPTY;
      }
      if (keys[v - 1] == key) {
        return v - 1;
      }
    }
  }

  private void insertIndex(long key, int slot) {
    int mask = index.length - 1;
    int i = hash(key) & mask;
    while (index[i] != 0) {
      i = (i + 1) & mask;
    }
    index[i] = slot + 1;
  }

  private void relinkIndex(long key, int slot) {
    int mask = index.length - 1;
    for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
      if (index[i] != 0 && keys[index[i] - 1] == key && index[i] - 1 != slot) {
        index[i] = slot + 1;
        return;
      }
    }
  }

  /** Removes a key by backward-shift deletion (no tombstones). */
  private void removeIndex(long key) {
    int mask = index.length - 1;
    int i = hash(key) & mask;
    while (keys[index[i] - 1] != key) {
      i = (i + 1) & mask;
    }
    int hole = i;
    for (int j = (hole + 1) & mask; index[j] != 0; j = (j + 1) & mask) {
      int home = hash(keys[index[j] - 1]) & mask;
      // Move j into the hole if its home is not in (hole, j] (cyclically).
      boolean between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        index[hole] = index[j];
        hole = j;
      }
    }
    index[hole] = 0;
  }

  private void rehash(int length) {
    index = new int[length];
    for (int slot = 0; slot < size; slot++) {
      insertIndex(keys[slot], slot);
    }
  }

  /** Self-check for tests: every slot is indexed once, the dirty count is right. */
  void validate() {
    int d = 0;
    for (int slot = 0; slot < size; slot++) {
      if (find(keys[slot]) != slot) {
        throw new AssertionError("slot " + slot + " (key " + keys[slot] + ") not indexed");
      }
      if (dirty[slot]) {
        d++;
      }
    }
    int indexed = 0;
    for (int v : index) {
      if (v != 0) {
        indexed++;
      }
    }
    if (d != dirtyCount || indexed != size) {
      throw new AssertionError("dirty " + d + "/" + dirtyCount + ", indexed " + indexed + "/" + size);
    }
  }
}
