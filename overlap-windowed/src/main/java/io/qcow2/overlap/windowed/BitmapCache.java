package io.qcow2.overlap.windowed;

import java.util.Arrays;

/**
 * Per-cluster type maps ({@code char[B]}, one type mask per cluster) of blocks of B clusters
 * that are being modified in bursts, in at most {@code capacity} cache lines, evicted least
 * recently used first.
 *
 * <p>A block is loaded only for a burst: {@link #BURST} consecutive modifications of the same
 * block. Checks never load, touch or age a line. A line that no modification has used for {@link
 * #IDLE} modifications is written back (if modified) and freed, and the line arrays are dropped
 * once the cache is empty, so an image at rest holds no maps at all.
 *
 * <p>Single-threaded, like the checker that owns it.
 */
final class BitmapCache {
  /*
   * Why bursts: one enter or remove on a fragment list costs a binary search plus one copy of the
   * window's array; loading a block costs O(B) to expand and, once modified, O(B + runs) to write
   * back. Loading pays off only for a run of modifications to one block (QEMU allocating L2 tables
   * and refcount blocks one after another, a snapshot being created or deleted), so a block is
   * loaded on its BURST-th consecutive modification: ski-rental, no more than twice the cost of the
   * better choice in hindsight. BURST = 32 also keeps a freshly opened image's cache empty: opening
   * enters one structure after another, and refcount blocks (one per 256 clusters at 512-byte
   * clusters, 16 per 4096-cluster block) never make a burst.
   *
   * The series (patch 1) kept every window's map in the cache it last queried, scanned all cached
   * windows for the oldest age on each miss, and allocated the whole 64 KiB budget's worth of maps
   * over time; here lines are found through a per-slot chain, form an intrusive doubly linked LRU
   * list in int arrays (hit and eviction O(1)), and are freed when idle.
   */

  /** Consecutive modifications of one uncached block that load it. */
  static final int BURST = 32;
  /**
   * Modifications after which a line that none of them used is written back and freed: long
   * enough for a few interleaved bursts to keep their lines, short enough that the lines of a
   * finished burst are gone soon after (opening a 64 MiB image with 512-byte clusters enters some
   * 500 refcount blocks after its last burst of L2 tables).
   */
  static final int IDLE = 4 * BURST;

  private static final int NONE = -1;
  private static final int INITIAL_LINES = 4;

  private final FragmentList fragments;
  private final int blockBits;
  private final int blockSize;
  private final int capacity;
  /** Per window slot: the first line of its chain of cached blocks, or NONE. */
  private int[] slotLines = new int[0];
  /*
   * Per line, null while no line is used; lines [0, used) are live. Each line knows its slot and
   * block, the next line of its slot's chain, its LRU neighbours, the modification clock at its last
   * use, and whether its map differs from the fragment list.
   */
  private char[][] maps;
  private int[] lineSlot;
  private int[] lineBlock;
  private int[] nextInSlot;
  private int[] newer;
  private int[] older;
  private long[] lastUse;
  private boolean[] dirty;
  private int used;
  /** Most and least recently used lines, or NONE when empty. */
  private int head = NONE;
  private int tail = NONE;
  /** Modifications so far. */
  private long clock;
  private int streakSlot = NONE;
  private int streakBlock;
  private int streak;
  private long listToBitmap;
  private long bitmapToList;
  private long dropped;

  /**
   * @param blockSize clusters per line, a power of two dividing the window size
   * @param capacity number of lines, at least 1
   */
  BitmapCache(FragmentList fragments, int blockSize, int capacity) {
    assert capacity >= 1 && Integer.bitCount(blockSize) == 1;
    this.fragments = fragments;
    this.blockSize = blockSize;
    this.blockBits = Integer.numberOfTrailingZeros(blockSize);
    this.capacity = capacity;
  }

  int capacity() {
    return capacity;
  }

  int blockBits() {
    return blockBits;
  }

  /** Lines in use. */
  int used() {
    return used;
  }

  /** Registers a new window slot, with no line. */
  void addSlot(int slot) {
    if (slot == slotLines.length) {
      int grown = slot + Math.max(4, slot >> 2);
      slotLines = Arrays.copyOf(slotLines, grown);
      Arrays.fill(slotLines, slot, grown, NONE);
    }
    assert slotLines[slot] == NONE;
  }

  /** Whether slots {@code [0, slots)} are all registered. */
  boolean covers(int slots) {
    return slots <= slotLines.length;
  }

  /** Whether any block of the window is cached. */
  boolean hasLines(int slot) {
    return slotLines[slot] != NONE;
  }

  /** Whether no block of {@code [firstBlock, lastBlock]} of the window is cached. */
  boolean noLineIn(int slot, int firstBlock, int lastBlock) {
    for (int line = slotLines[slot]; line != NONE; line = nextInSlot[line]) {
      if (lineBlock[line] >= firstBlock && lineBlock[line] <= lastBlock) {
        return false;
      }
    }
    return true;
  }

  /** The line caching the block, or NONE; does not count as a use. */
  int lineOf(int slot, int block) {
    int line = slotLines[slot];
    while (line != NONE && lineBlock[line] != block) {
      line = nextInSlot[line];
    }
    return line;
  }

  /**
   * Advances the modification clock for one enter or remove, freeing lines idle for {@link #IDLE}
   * modifications; {@link #modify} follows.
   */
  void tick() {
    clock++;
    releaseIdle();
  }

  /**
   * Counts the current modification (after {@link #tick}) on the block; returns the block's line,
   * loading the block if this modification completes a burst, or NONE if the block stays uncached.
   * Appends at the end of a list ({@link FragmentList#append}) cost O(1) and are not counted: they
   * neither make nor break a burst.
   */
  int modify(int slot, int block) {
    int line = lineOf(slot, block);
    if (line != NONE) {
      use(line);
      return line;
    }
    if (slot == streakSlot && block == streakBlock) {
      streak++;
    } else {
      streakSlot = slot;
      streakBlock = block;
      streak = 1;
    }
    return streak >= BURST ? load(slot, block) : NONE;
  }

  /** Marks a line used by the current modification: most recently used. */
  void use(int line) {
    lastUse[line] = clock;
    if (line != head) {
      unlink(line);
      pushHead(line);
    }
  }

  private void releaseIdle() {
    while (tail != NONE && clock - lastUse[tail] > IDLE) {
      int line = tail;
      evict(line);
      free(line);
    }
  }

  /** Expands the block into a line, evicting the least recently used line if all are taken. */
  private int load(int slot, int block) {
    int line;
    if (used < capacity) {
      line = used++;
      if (maps == null) {
        allocateLines(Math.min(capacity, INITIAL_LINES));
      } else if (line == maps.length) {
        allocateLines((int) Math.min(capacity, 2L * maps.length));
      }
      maps[line] = new char[blockSize];
    } else {
      line = tail;
      evict(line);
    }
    fragments.expand(slot, block << blockBits, maps[line]);
    listToBitmap++;
    lineSlot[line] = slot;
    lineBlock[line] = block;
    nextInSlot[line] = slotLines[slot];
    slotLines[slot] = line;
    dirty[line] = false;
    lastUse[line] = clock;
    pushHead(line);
    return line;
  }

  private void allocateLines(int lines) {
    maps = maps == null ? new char[lines][] : Arrays.copyOf(maps, lines);
    lineSlot = resize(lineSlot, lines);
    lineBlock = resize(lineBlock, lines);
    nextInSlot = resize(nextInSlot, lines);
    newer = resize(newer, lines);
    older = resize(older, lines);
    lastUse = lastUse == null ? new long[lines] : Arrays.copyOf(lastUse, lines);
    dirty = dirty == null ? new boolean[lines] : Arrays.copyOf(dirty, lines);
  }

  private static int[] resize(int[] array, int length) {
    return array == null ? new int[length] : Arrays.copyOf(array, length);
  }

  /** The per-cluster type map of a line; index 0 is the block's first cluster. */
  char[] map(int line) {
    return maps[line];
  }

  /** Records that the line's map differs from its window's fragment list. */
  void markDirty(int line) {
    dirty[line] = true;
  }

  /** Writes the line back if it was modified and detaches it from its slot and the LRU list. */
  private void evict(int line) {
    int slot = lineSlot[line];
    if (dirty[line]) {
      fragments.replace(slot, lineBlock[line] << blockBits, maps[line]);
      bitmapToList++;
    }
    dropped++;
    int previous = NONE;
    for (int l = slotLines[slot]; l != line; l = nextInSlot[l]) {
      previous = l;
    }
    if (previous == NONE) {
      slotLines[slot] = nextInSlot[line];
    } else {
      nextInSlot[previous] = nextInSlot[line];
    }
    unlink(line);
  }

  /** Frees an evicted line: the last live line moves into its place, so lines stay dense. */
  private void free(int line) {
    int last = --used;
    if (line != last) {
      maps[line] = maps[last];
      lineSlot[line] = lineSlot[last];
      lineBlock[line] = lineBlock[last];
      nextInSlot[line] = nextInSlot[last];
      lastUse[line] = lastUse[last];
      dirty[line] = dirty[last];
      newer[line] = newer[last];
      older[line] = older[last];
      if (newer[line] == NONE) {
        head = line;
      } else {
        older[newer[line]] = line;
      }
      if (older[line] == NONE) {
        tail = line;
      } else {
        newer[older[line]] = line;
      }
      int slot = lineSlot[line];
      if (slotLines[slot] == last) {
        slotLines[slot] = line;
      } else {
        int l = slotLines[slot];
        while (nextInSlot[l] != last) {
          l = nextInSlot[l];
        }
        nextInSlot[l] = line;
      }
    }
    maps[last] = null;
    if (used == 0) {
      maps = null;
      lineSlot = lineBlock = nextInSlot = newer = older = null;
      lastUse = null;
      dirty = null;
    } else if (used <= maps.length / 4 && maps.length > INITIAL_LINES) {
      allocateLines(maps.length / 2);
    }
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

  /** List-to-bitmap conversions (block expansions). */
  long listToBitmap() {
    return listToBitmap;
  }

  /** Bitmap-to-list conversions (modified blocks written back). */
  long bitmapToList() {
    return bitmapToList;
  }

  /** Maps dropped from the cache (evicted or freed; a modified one is also written back). */
  long dropped() {
    return dropped;
  }

  long memoryBytes() {
    long bytes = Memory.BITMAP_CACHE + Memory.intArray(slotLines.length);
    if (maps != null) {
      int lines = maps.length;
      bytes += Memory.refArray(lines) + used * Memory.charArray(blockSize)
          + 5 * Memory.intArray(lines) + Memory.longArray(lines) + Memory.booleanArray(lines);
    }
    return bytes;
  }

  /**
   * Checks the LRU list, the slot chains, that no line is idle, and that every clean map equals
   * its fragment list.
   *
   * @throws IllegalStateException describing the first violation
   */
  void validate() {
    validateLines(-1);
    int chained = 0;
    for (int slot = 0; slot < slotLines.length; slot++) {
      for (int line = slotLines[slot]; line != NONE; line = nextInSlot[line]) {
        FragmentList.check(chained++ < used, "slot chains hold more than %d lines", used);
        FragmentList.check(line < used && lineSlot[line] == slot,
            "slot %d chains line %d, which belongs to slot %d", slot, line, line < used ? lineSlot[line] : -1);
      }
    }
    FragmentList.check(chained == used, "%d lines chained, %d used", chained, used);
  }

  /**
   * Checks the LRU list and that every line is found through its slot, in O(lines); compares
   * clean maps with their fragment lists for the lines of {@code slot} only, or of every slot if
   * it is negative.
   *
   * @throws IllegalStateException describing the first violation
   */
  void validateLines(int slot) {
    FragmentList.check(used <= capacity, "%d lines used of %d", used, capacity);
    FragmentList.check((used == 0) == (maps == null), "%d lines used, arrays %s", used,
        maps == null ? "dropped" : "kept");
    int count = 0;
    int previous = NONE;
    for (int line = head; line != NONE; line = older[line]) {
      FragmentList.check(count++ < used, "LRU list has a cycle or more than %d lines", used);
      FragmentList.check(line < used, "line %d in the LRU list, only %d used", line, used);
      FragmentList.check(newer[line] == previous, "line %d: newer %d != %d", line, newer[line], previous);
      FragmentList.check(previous == NONE || lastUse[line] <= lastUse[previous],
          "line %d used after the more recent line %d", line, previous);
      FragmentList.check(clock - lastUse[line] <= IDLE, "line %d idle since %d, now %d", line,
          lastUse[line], clock);
      int owner = lineSlot[line];
      FragmentList.check(owner >= 0 && owner < slotLines.length && lineOf(owner, lineBlock[line]) == line,
          "line %d (slot %d, block %d) not found through its slot", line, owner, lineBlock[line]);
      FragmentList.check(maps[line] != null && maps[line].length == blockSize, "line %d map", line);
      if (!dirty[line] && (slot < 0 || slot == owner)) {
        char[] expected = new char[blockSize];
        fragments.expand(owner, lineBlock[line] << blockBits, expected);
        FragmentList.check(Arrays.equals(expected, maps[line]),
            "clean line %d differs from slot %d block %d's fragments", line, owner, lineBlock[line]);
      }
      previous = line;
    }
    FragmentList.check(count == used, "LRU list holds %d lines, %d used", count, used);
    FragmentList.check(tail == previous, "tail %d != last line %d", tail, previous);
    FragmentList.check(listToBitmap == dropped + used, "expansions %d != dropped %d + cached %d",
        listToBitmap, dropped, used);
  }
}
