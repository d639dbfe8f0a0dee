package io.qcow2.overlap.windowed;

import io.qcow2.overlap.MetadataType;
import java.util.Arrays;

/**
 * The cold form of every window: per window slot, a sorted array of run-length fragments, each
 * packed into one {@code int}.
 *
 * <p>Single-threaded, like the checker that owns it.
 */
final class FragmentList {
  /*
   * Encoding (one int per fragment, most significant bits first):
   *
   *   [ start within the window : windowBits ][ run length - 1 : 23 - windowBits ][ types : 9 ]
   *
   * The series (patch 1, Qcow2MetadataFragment) packed 8 type bits, an 8-bit length and a 16-bit
   * start into 32 bits, so runs were capped at 255 clusters and a length of 0 was a wasted value
   * (Eric Blake's review). Here the start takes only the bits the window size needs, the length is
   * stored minus one, and all nine type bits fit (QEMU's bitmap directory, bit 8, is newer than the
   * series). Runs are capped at min(W, 2^(23 - windowBits)): 128 clusters at W = 65536, 2048 at
   * W = 4096, the whole window for W <= 2048. Start in the top bits means a window's fragments,
   * sorted by start, are also sorted as unsigned ints.
   *
   * Lists are rebuilt only from a window's per-cluster map (BitmapCache evicting a modified window),
   * so they are canonical: sorted, disjoint, no zero types, and two fragments that touch with the
   * same types only if the first is a maximal run. validate() checks exactly that.
   */

  /** Bits of a fragment holding the type mask. */
  static final int TYPE_BITS = 9;
  private static final int TYPE_MASK = (1 << TYPE_BITS) - 1;

  private final int windowSize;
  private final int startShift;
  private final int lengthMask;
  private final int maxRun;
  /** Fragments by window slot; {@code null} for a window without metadata. */
  private int[][] lists = new int[0][];
  private int slots;
  /** Bytes of all fragment arrays, for {@link #memoryBytes()}. */
  private long arrayBytes;
  private long fragmentCount;

  FragmentList(int windowBits) {
    assert TYPE_BITS == MetadataType.values().length;
    assert windowBits >= 0 && windowBits <= 16 : windowBits;
    this.windowSize = 1 << windowBits;
    this.startShift = Integer.SIZE - windowBits;
    int lengthBits = Integer.SIZE - TYPE_BITS - windowBits;
    this.lengthMask = (1 << lengthBits) - 1;
    this.maxRun = Math.min(windowSize, 1 << lengthBits);
  }

  /** The longest run one fragment can describe. */
  int maxRun() {
    return maxRun;
  }

  /** Registers {@code slot}, the next slot number; it starts without fragments. */
  void addSlot(int slot) {
    assert slot == slots : slot + " != " + slots;
    if (slot == lists.length) {
      lists = Arrays.copyOf(lists, Math.max(4, lists.length * 2));
    }
    slots++;
  }

  /** Number of slots registered with {@link #addSlot}. */
  int slots() {
    return slots;
  }

  boolean isEmpty(int slot) {
    return lists[slot] == null;
  }

  /** Total number of fragments over all windows. */
  long fragmentCount() {
    return fragmentCount;
  }

  /** Writes the window's per-cluster type map into {@code map}, which has W entries. */
  void expand(int slot, short[] map) {
    assert map.length == windowSize;
    Arrays.fill(map, (short) 0);
    int[] fragments = lists[slot];
    if (fragments == null) {
      return;
    }
    for (int fragment : fragments) {
      int start = start(fragment);
      Arrays.fill(map, start, start + length(fragment), (short) types(fragment));
    }
  }

  /**
   * The number of runs in {@code map} (maximal stretches of equal non-zero masks, cut at {@link
   * #maxRun}); encodes them into {@code out} when it is not null.
   */
  private int runs(short[] map, int[] out) {
    int count = 0;
    for (int i = 0; i < windowSize; ) {
      int types = map[i];
      if (types == 0) {
        i++;
        continue;
      }
      int start = i;
      // The cluster at 'start' is the first of the run: counted before the loop tests the next one
      // (the series restarted runs at 0 and dropped it; Max Reitz's reply of 2014-11-25).
      do {
        i++;
      } while (i < windowSize && map[i] == types && i - start < maxRun);
      if (out != null) {
        out[count] = encode(start, i - start, types);
      }
      count++;
    }
    return count;
  }

  /** Replaces the window's fragments with the runs of {@code map}: one pass to count, one to fill. */
  void rebuild(int slot, short[] map) {
    assert map.length == windowSize;
    int count = runs(map, null);
    int[] old = lists[slot];
    int oldCount = old == null ? 0 : old.length;
    if (count == 0) {
      arrayBytes -= arrayBytes(oldCount);
      fragmentCount -= oldCount;
      lists[slot] = null;
      return;
    }
    int[] fragments = count == oldCount ? old : new int[count];
    int n = runs(map, fragments);
    assert n == count;
    arrayBytes += arrayBytes(count) - arrayBytes(oldCount);
    fragmentCount += count - oldCount;
    lists[slot] = fragments;
  }

  /** Bytes of a list of {@code length} fragments; an empty list is {@code null}. */
  private static long arrayBytes(int length) {
    return length == 0 ? 0 : Memory.intArray(length);
  }

  int encode(int start, int length, int types) {
    assert start >= 0 && length >= 1 && length <= maxRun && start + length <= windowSize;
    assert types != 0 && (types & ~TYPE_MASK) == 0;
    return (int) ((long) start << startShift) | (length - 1) << TYPE_BITS | types;
  }

  int start(int fragment) {
    return (int) (Integer.toUnsignedLong(fragment) >>> startShift);
  }

  int length(int fragment) {
    return ((fragment >>> TYPE_BITS) & lengthMask) + 1;
  }

  static int types(int fragment) {
    return fragment & TYPE_MASK;
  }

  /** The window's fragments, for tests. */
  int[] fragments(int slot) {
    return lists[slot] == null ? new int[0] : lists[slot].clone();
  }

  /** Bytes held: the array of lists and every fragment array. */
  long memoryBytes() {
    return Memory.FRAGMENT_LIST + Memory.refArray(lists.length) + arrayBytes;
  }

  /**
   * Checks every list is canonical (see the class notes) and the byte and fragment counts.
   *
   * @throws IllegalStateException describing the first violation
   */
  void validate() {
    long bytes = 0;
    long total = 0;
    check(slots <= lists.length, "slots %d > capacity %d", slots, lists.length);
    for (int slot = 0; slot < lists.length; slot++) {
      int[] fragments = lists[slot];
      if (fragments == null) {
        continue;
      }
      check(fragments.length > 0, "slot %d has an empty array, not null", slot);
      check(slot < slots, "unused slot %d has fragments", slot);
      bytes += arrayBytes(fragments.length);
      total += fragments.length;
      int end = 0;
      int previousTypes = 0;
      int previousLength = 0;
      for (int i = 0; i < fragments.length; i++) {
        int fragment = fragments[i];
        int start = start(fragment);
        int length = length(fragment);
        int types = types(fragment);
        check(types != 0, "slot %d fragment %d has no types", slot, i);
        check(length <= maxRun, "slot %d fragment %d: run %d > %d", slot, i, length, maxRun);
        check(start >= end, "slot %d fragment %d starts at %d, before %d", slot, i, start, end);
        check(start + length <= windowSize, "slot %d fragment %d ends beyond the window", slot, i);
        check(i == 0 || start != end || types != previousTypes || previousLength == maxRun,
            "slot %d fragment %d continues a shorter run of the same types", slot, i);
        end = start + length;
        previousTypes = types;
        previousLength = length;
      }
    }
    check(bytes == arrayBytes, "fragment bytes %d, counted %d", bytes, arrayBytes);
    check(total == fragmentCount, "fragments %d, counted %d", total, fragmentCount);
  }

  static void check(boolean condition, String format, Object... args) {
    if (!condition) {
      throw new IllegalStateException(String.format(format, args));
    }
  }
}
