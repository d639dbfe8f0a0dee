package io.qcow2.overlap.windowed;

import io.qcow2.overlap.MetadataType;
import java.util.Arrays;

/**
 * The metadata of every window: per window slot, a sorted, exactly sized array of run-length
 * fragments, each packed into one {@code int}; checks search it, modifications rewrite the runs
 * they touch, and a cache line's write-back replaces the runs of its block.
 *
 * <p>Single-threaded, like the checker that owns it.
 */
final class FragmentList {
  /*
   * Encoding (one int per fragment, most significant bits first):
   *
   *   [ start within the window : windowBits ][ run length - 1 : rest ][ types : TYPE_BITS ]
   *
   * The series (patch 1, Qcow2MetadataFragment) packed 8 type bits, an 8-bit length and a 16-bit
   * start into 32 bits, so runs were capped at 255 clusters and a length of 0 was a wasted value
   * (Eric Blake's review). Here the start takes only the bits the window size needs, the length is
   * stored minus one, and all nine type bits fit (QEMU's bitmap directory, bit 8, is newer than the
   * series). Runs are capped at min(W, 2^(23 - windowBits)): 128 clusters at W = 65536, 2048 at
   * W = 4096, the whole window for W <= 2048. Start in the top bits means a window's fragments,
   * sorted by start, are also sorted as unsigned ints.
   *
   * Lists are canonical: sorted, disjoint, no zero types, and two fragments that touch with the
   * same types only if the first is a maximal run, so every list equals a rebuild of its window
   * from a per-cluster map. validate() checks exactly that.
   */

  /** Bits of a summary holding the end of a window's last run, which is at most W = 2^16. */
  static final int END_BITS = 17;
  static final int END_MASK = (1 << END_BITS) - 1;

  /** Bits of a fragment holding the type mask: one per type the API defines. */
  static final int TYPE_BITS = MetadataType.values().length;

  static {
    // A fragment is one int: the start takes up to 16 bits (W <= 65536), the types one bit each,
    // the length what is left (possibly nothing). Cached maps hold a type mask per cluster in a
    // char. Both overflow beyond 16 types: fragments would then need a long, maps an int.
    if (TYPE_BITS + Integer.numberOfTrailingZeros(WindowedOverlapCheckerProvider.MAX_WINDOW_SIZE) > Integer.SIZE
        || TYPE_BITS > Character.SIZE) {
      throw new IllegalStateException(TYPE_BITS + " metadata types do not fit the windowed "
          + "strategy's 32-bit fragments and 16-bit maps");
    }
  }

  private final int typeBits;
  private final int typeMask;
  private final int windowSize;
  private final int windowBits;
  private final int startShift;
  private final int lengthMask;
  private final int maxRun;
  private final int maxRunBits;
  /** Fragments by window slot; {@code null} for a window without metadata. */
  private int[][] lists = new int[0][];
  /**
   * Chunk index by window slot, see {@link #index}; {@code null} for short lists, and the whole
   * array {@code null} until some list is long (a 1 TiB image with 64 KiB clusters has none).
   */
  private char[][] indexes;
  /**
   * By slot, what a search needs before it reads the list: {@code indexBits << END_BITS | end},
   * where {@code end} is the end of the last run and {@code indexBits} is 1 + log2 of the chunk
   * index's length (0: no index); 0 for an empty list. One flat array, so that a check of a
   * cluster past the last run (data appended after the metadata) reads no list at all, and a
   * search finds its chunk without first reading the index's header (see {@link #firstEndingAfter}).
   */
  private int[] summaries = new int[0];
  private int slots;
  /**
   * After a {@link #typesIn} whose range lay in one run or in one gap between runs: that run or
   * gap, {@code [uniformStart, uniformEnd)}, whose every cluster holds exactly {@code uniformTypes}
   * (0 for a gap); otherwise an empty range.
   */
  private int uniformStart;
  private int uniformEnd;
  private int uniformTypes;
  /** Bytes of all fragment arrays and their indexes, for {@link #memoryBytes()}. */
  private long arrayBytes;
  private long fragmentCount;
  /**
   * The slot whose array has spare room at its end for {@link #append}, or -1; every other array
   * is exactly sized. One slot at a time, so the spare room costs at most an eighth of one list.
   */
  private int growingSlot = -1;
  /** Fragments in the growing slot's array (the rest of it is spare). */
  private int growingCount;

  FragmentList(int windowBits) {
    this(windowBits, TYPE_BITS);
  }

  /** A list whose fragments hold {@code typeBits} type bits: tests try wider type sets than the API's. */
  FragmentList(int windowBits, int typeBits) {
    assert typeBits >= 1 && typeBits <= Character.SIZE && windowBits + typeBits <= Integer.SIZE;
    this.typeBits = typeBits;
    this.typeMask = (1 << typeBits) - 1;
    assert windowBits >= 0 && windowBits <= 16 : windowBits;
    this.windowSize = 1 << windowBits;
    this.windowBits = windowBits;
    this.startShift = Integer.SIZE - windowBits;
    int lengthBits = Integer.SIZE - typeBits - windowBits;
    this.lengthMask = (1 << lengthBits) - 1;
    this.maxRun = Math.min(windowSize, 1 << lengthBits);   // lengthBits may be 0: runs of 1
    this.maxRunBits = Integer.numberOfTrailingZeros(maxRun);
  }

  /** The longest run one fragment can describe. */
  int maxRun() {
    return maxRun;
  }

  /** Registers {@code slot}, the next slot number; it starts without fragments. */
  void addSlot(int slot) {
    assert slot == slots : slot + " != " + slots;
    if (slot == lists.length) {
      lists = Arrays.copyOf(lists, slot + Math.max(4, slot >> 2));
      summaries = Arrays.copyOf(summaries, lists.length);
      if (indexes != null) {
        indexes = Arrays.copyOf(indexes, lists.length);
      }
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

  /** Fragments in the slot's list, whose array may be longer (see {@link #growingSlot}). */
  private int count(int slot, int[] list) {
    return slot == growingSlot ? growingCount : list.length;
  }

  /** Total number of fragments over all windows. */
  long fragmentCount() {
    return fragmentCount;
  }

  /**
   * Index of the first fragment of the slot's list (non-empty) whose end is greater than {@code
   * cluster}, which is in {@code [-1, W]}.
   */
  private int firstEndingAfter(int slot, int[] list, int cluster) {
    return firstEndingAfter(list, count(slot, list), indexes == null ? null : indexes[slot], summaries[slot],
        cluster);
  }

  /**
   * As {@link #firstEndingAfter(int, int[], int)}, for a list of {@code n} runs, its index and its
   * summary.
   */
  private int firstEndingAfter(int[] list, int n, char[] index, int summary, int cluster) {
    /*
     * A binary search over a window's runs is a chain of dependent loads and mispredicted branches:
     * about 11 cache misses for a window of 1000 runs, 300 ns when the lists are in L3 (measured,
     * 10^6 structures), and interpolating from n * cluster / W fails on the clumps real windows
     * have (the L1 table, the refcount table, snapshot tables). Lists of INDEXED_RUNS runs or more
     * carry an index: the first run of each of 8 to 16 runs' worth of equal chunks of the window
     * (2 bytes an entry), so a search reads one index entry and counts the runs of the chunk that
     * start at or before the cluster, one or two cache lines, comparing the raw fragments (the
     * start is in the top bits) without decoding them. Clumps longer than 16 runs in a chunk are
     * halved first.
     */
    assert summary == summary(list, n) : slotSummaryMismatch(summary, list, n);
    int lastEnd = summary & END_MASK;
    if (lastEnd <= cluster) {
      return n;   // past the window's last run: data appended after its metadata
    }
    if (cluster < 0) {
      return 0;
    }
    int lo = 0;
    int hi = n;   // the first run starting after the cluster is in [lo, hi]
    if (index != null) {
      int chunkShift = windowBits + 1 - (summary >>> END_BITS);
      int chunk = cluster >>> chunkShift;
      lo = index[chunk];
      if (chunk + 1 <= (lastEnd - 1) >>> chunkShift) {   // entries past the last run are stale
        hi = index[chunk + 1] + 1;
      }
    }
    // Runs starting at or before the cluster are those below the key as unsigned ints.
    long key = (long) (cluster + 1) << startShift;
    while (hi - lo > 16) {
      int mid = (lo + hi) >>> 1;
      if (Integer.toUnsignedLong(list[mid]) < key) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    // Count the runs below the key rather than stop at the first one above it: the stop was a
    // branch mispredicted once per search (the position is random), the count has none to predict.
    int below = lo;
    for (int i = lo; i < hi; i++) {
      below += (int) ((Integer.toUnsignedLong(list[i]) - key) >>> 63);
    }
    lo = below;
    // lo: the first run starting after the cluster; the one before may still cover it.
    return lo > 0 && endOf(list[lo - 1]) > cluster ? lo - 1 : lo;
  }

  /** The fragment arrays by slot, until the next modification. */
  int[][] lists() {
    return lists;
  }

  /** The summaries by slot (see {@link #summaries}), until the next modification. */
  int[] summaries() {
    return summaries;
  }

  /** The summary of a list of {@code n} runs, 0 for none. */
  private int summary(int[] list, int n) {
    if (n == 0) {
      return 0;
    }
    int chunks = chunks(n);
    int indexBits = chunks == 0 ? 0 : 1 + Integer.numberOfTrailingZeros(chunks);
    return indexBits << END_BITS | endOf(list[n - 1]);
  }

  private String slotSummaryMismatch(int summary, int[] list, int n) {
    return String.format("summary 0x%x, list of %d runs gives 0x%x", summary, n, summary(list, n));
  }

  /** Sets the slot's summary from its list; after every change of the list. */
  private void summarize(int slot) {
    int[] list = lists[slot];
    summaries[slot] = list == null ? 0 : summary(list, count(slot, list));
  }

  /** The chunk indexes by slot, or {@code null}, until the next modification. */
  char[][] indexes() {
    return indexes;
  }

  /** The slot whose array has spare room, or -1, until the next modification. */
  int growingSlot() {
    return growingSlot;
  }

  /** Fragments in the growing slot's array, until the next modification. */
  int growingCount() {
    return growingCount;
  }

  private char[] indexOf(int slot) {
    return indexes == null ? null : indexes[slot];
  }

  /** Lists with at least this many runs carry an index of their chunks. */
  static final int INDEXED_RUNS = 64;

  /**
   * Chunks of the index of a list of {@code n} runs: {@code highestOneBit(n / 8)}, so 8 to 16 runs
   * per chunk on average; 0 for short lists.
   */
  private int chunks(int n) {
    return n < INDEXED_RUNS ? 0 : Math.min(windowSize, Integer.highestOneBit(n >>> 3));
  }

  /**
   * The index of a list of {@code n} runs: for each of {@link #chunks} equal chunks of the window,
   * the first run whose end is past the chunk's start; {@code null} for short lists. Only the
   * entries of chunks that start before the last run's end are kept up to date by {@link #append}
   * (searches past that end stop earlier), so only those are compared by {@link #validate}.
   */
  private char[] index(int[] list, int n) {
    int chunks = chunks(n);
    if (chunks == 0) {
      return null;
    }
    int chunkShift = windowBits - Integer.numberOfTrailingZeros(chunks);
    char[] index = new char[chunks];
    int run = 0;
    for (int chunk = 0; chunk < chunks; chunk++) {
      int chunkStart = chunk << chunkShift;
      while (run < n && endOf(list[run]) <= chunkStart) {
        run++;
      }
      index[chunk] = (char) run;   // below n <= W <= 2^16 where it is read (see firstEndingAfter)
    }
    return index;
  }

  /** Installs a new index for the slot, keeping the byte count. */
  private void setIndex(int slot, char[] index) {
    char[] old = indexOf(slot);
    arrayBytes += indexBytes(index) - indexBytes(old);
    if (index != null && indexes == null) {
      indexes = new char[lists.length][];
    }
    if (indexes != null) {
      indexes[slot] = index;
    }
  }

  private int endOf(int fragment) {
    return start(fragment) + length(fragment);
  }

  /**
   * The union of the types of clusters {@code [from, to)} of the window, within {@code wanted}:
   * a search for the first fragment, then the fragments of the range until all wanted types are
   * found. O(log runs + runs in the range); nothing is expanded. If the range lies in one run or
   * one gap, that stretch is left in {@link #uniformStart()}, {@link #uniformEnd()} and {@link
   * #uniformTypes()}.
   */
  int typesIn(int slot, int from, int to, int wanted) {
    int[] list = lists[slot];
    if (list == null) {
      setUniform(0, windowSize, 0);
      return 0;
    }
    return typesIn(list, count(slot, list), indexOf(slot), summaries[slot], from, to, wanted);
  }

  /**
   * As {@link #typesIn(int, int, int, int)}, for a window's non-empty list of {@code n} runs and
   * its index as {@link #lists()}, {@link #indexes()}, {@link #growingSlot()} and {@link
   * #growingCount()} give them: the checker's single-window checks read those from copies of its
   * own.
   */
  int typesIn(int[] list, int n, char[] index, int summary, int from, int to, int wanted) {
    int first = firstEndingAfter(list, n, index, summary, from);
    if (first == n || start(list[first]) >= to) {
      setUniform(first == 0 ? 0 : endOf(list[first - 1]), first == n ? windowSize : start(list[first]), 0);
      return 0;
    }
    int covering = list[first];
    if (start(covering) <= from && endOf(covering) >= to) {
      setUniform(start(covering), endOf(covering), types(covering));
      return covering & wanted;
    }
    setUniform(0, 0, 0);
    int found = 0;
    for (int i = first; i < n; i++) {
      int fragment = list[i];
      if (start(fragment) >= to) {
        break;
      }
      found |= fragment & wanted;
      if (found == wanted) {
        break;
      }
    }
    return found;
  }

  private void setUniform(int start, int end, int types) {
    uniformStart = start;
    uniformEnd = end;
    uniformTypes = types;
  }

  int uniformStart() {
    return uniformStart;
  }

  int uniformEnd() {
    return uniformEnd;
  }

  int uniformTypes() {
    return uniformTypes;
  }

  /**
   * Whether every cluster of {@code [from, to)} holds exactly {@code types} (0: no metadata), for
   * the checker's self-check. O(log runs + runs in the range).
   */
  boolean holdsExactly(int slot, int from, int to, int types) {
    int[] list = lists[slot];
    int n = list == null ? 0 : count(slot, list);
    int position = from;
    for (int i = n == 0 ? 0 : firstEndingAfter(slot, list, from); i < n && start(list[i]) < to; i++) {
      if (types == 0 || start(list[i]) > position || types(list[i]) != types) {
        return false;
      }
      position = endOf(list[i]);
    }
    return types == 0 || position >= to;
  }

  /**
   * Writes the types of clusters {@code [blockStart, blockStart + map.length)} of the window into
   * {@code map}.
   */
  void expand(int slot, int blockStart, char[] map) {
    assert blockStart + map.length <= windowSize;
    Arrays.fill(map, (char) 0);
    int[] list = lists[slot];
    if (list == null) {
      return;
    }
    int blockEnd = blockStart + map.length;
    int n = count(slot, list);
    for (int i = firstEndingAfter(slot, list, blockStart); i < n; i++) {
      int fragment = list[i];
      int start = start(fragment);
      if (start >= blockEnd) {
        break;
      }
      Arrays.fill(map, Math.max(start, blockStart) - blockStart,
          Math.min(start + length(fragment), blockEnd) - blockStart, (char) types(fragment));
    }
  }

  /** Adds {@code types} to clusters {@code [from, to)}; returns whether anything changed. */
  boolean enter(int slot, int from, int to, int types) {
    return rewrite(slot, from, to, types, ENTER, null);
  }

  /**
   * Adds {@code types} to clusters {@code [from, to)} if they lie at or after the end of the
   * window's last run, as structures allocated at the end of the image file do (QEMU creating an
   * image or growing one); returns {@code false}, changing nothing, otherwise. O(1) amortised: the
   * runs are appended into spare room at the end of the array and the index entries of the chunks
   * they reach are set.
   */
  boolean append(int slot, int from, int to, int types) {
    assert from >= 0 && from < to && to <= windowSize : from + ".." + to;
    int[] list = lists[slot];
    if (list == null) {
      return false;
    }
    int n = count(slot, list);
    int last = list[n - 1];
    int lastStart = start(last);
    int lastLength = length(last);
    int lastEnd = lastStart + lastLength;
    if (from < lastEnd) {
      return false;
    }
    // Canonical form: a run touching the last one with the same types first fills it up to maxRun.
    int extendBy = from == lastEnd && types(last) == types ? Math.min(maxRun - lastLength, to - from) : 0;
    int added = (to - from - extendBy + maxRun - 1) >>> maxRunBits;
    if (added > 0) {
      list = reserve(slot, list, n, n + added);
    }
    if (extendBy > 0) {
      list[n - 1] = encode(lastStart, lastLength + extendBy, types);
    }
    int k = n;
    for (int s = from + extendBy; s < to; s += maxRun) {
      list[k++] = encode(s, Math.min(maxRun, to - s), types);
    }
    fragmentCount += added;
    char[] index = indexOf(slot);
    int chunks = chunks(n + added);
    if (index == null ? chunks != 0 : index.length != chunks) {
      setIndex(slot, index(list, n + added));   // the chunk count doubles: amortised O(1)
    } else if (index != null) {
      int chunkShift = windowBits - Integer.numberOfTrailingZeros(chunks);
      int run = n - 1;
      for (int chunk = ((lastEnd - 1) >>> chunkShift) + 1; chunk < chunks && chunk << chunkShift < to; chunk++) {
        while (endOf(list[run]) <= chunk << chunkShift) {
          run++;
        }
        index[chunk] = (char) run;
      }
    }
    summarize(slot);
    return true;
  }

  /**
   * Makes the slot the growing one, with room for {@code needed} fragments; the previous growing
   * slot's array is cut to size.
   */
  private int[] reserve(int slot, int[] list, int n, int needed) {
    if (slot != growingSlot) {
      trimGrowing();
      growingSlot = slot;
    }
    if (needed > list.length) {
      int[] grown = Arrays.copyOf(list, needed + Math.max(8, needed >>> 3));
      arrayBytes += arrayBytes(grown.length) - arrayBytes(list.length);
      lists[slot] = grown;
      list = grown;
    }
    growingCount = needed;
    return list;
  }

  private void trimGrowing() {
    if (growingSlot >= 0) {
      int[] list = lists[growingSlot];
      if (list != null && list.length != growingCount) {
        arrayBytes += arrayBytes(growingCount) - arrayBytes(list.length);
        lists[growingSlot] = Arrays.copyOf(list, growingCount);
      }
      growingSlot = -1;
    }
  }

  /** Clears {@code types} from clusters {@code [from, to)}; returns whether anything changed. */
  boolean remove(int slot, int from, int to, int types) {
    return rewrite(slot, from, to, types, REMOVE, null);
  }

  /**
   * Replaces the fragments of clusters {@code [blockStart, blockStart + map.length)} with the runs
   * of {@code map} (a modified cache line written back).
   */
  void replace(int slot, int blockStart, char[] map) {
    rewrite(slot, blockStart, blockStart + map.length, 0, REPLACE, map);
  }

  private static final int ENTER = 0;
  private static final int REMOVE = 1;
  private static final int REPLACE = 2;

  /*
   * Rewrites the fragments that overlap or touch [from, to], plus the chain of fragments touching
   * them on the right (a shortened run may now merge with its neighbour, which moves every later
   * cut at maxRun), in three passes: the parts before 'from', the new content of [from, to) (the old
   * types changed by the operation, or the runs of a cache line), the parts after 'to'. The pieces
   * are then cut greedily at maxRun, which gives the same fragments as a rebuild of the whole
   * window: everything before the region ends on a cut. Cost: O(log runs + runs rewritten), plus
   * one copy of the window's array if it changed; the arrays stay exactly sized.
   */
  private boolean rewrite(int slot, int from, int to, int types, int op, char[] map) {
    assert from >= 0 && from < to && to <= windowSize : from + ".." + to;
    int[] old = lists[slot];
    int n = old == null ? 0 : count(slot, old);
    int a = n == 0 ? 0 : firstEndingAfter(slot, old, from - 1);
    assert a == 0 || endOf(old[a - 1]) < from;
    assert a == n || endOf(old[a]) >= from;
    int b = a;
    while (b < n && start(old[b]) <= to) {
      b++;
    }
    while (b < n && b > a && start(old[b]) == start(old[b - 1]) + length(old[b - 1])) {
      b++;
    }
    Pieces pieces = new Pieces();
    for (int i = a; i < b; i++) {
      int start = start(old[i]);
      pieces.add(start, Math.min(start + length(old[i]), from), types(old[i]));
    }
    if (op == REPLACE) {
      for (int i = 0; i < map.length; ) {
        int mask = map[i];
        int runStart = i;
        do {
          i++;
        } while (i < map.length && map[i] == mask);
        pieces.add(from + runStart, from + i, mask);
      }
    } else {
      int position = from;
      for (int i = a; i < b; i++) {
        int start = start(old[i]);
        int end = start + length(old[i]);
        if (end <= from || start >= to) {
          continue;
        }
        if (op == ENTER) {
          pieces.add(position, start, types);
        }
        int mask = types(old[i]);
        pieces.add(Math.max(start, from), Math.min(end, to), op == ENTER ? mask | types : mask & ~types);
        position = Math.min(end, to);
      }
      if (op == ENTER) {
        pieces.add(position, to, types);
      }
    }
    for (int i = a; i < b; i++) {
      int start = start(old[i]);
      pieces.add(Math.max(start, to), start + length(old[i]), types(old[i]));
    }
    int count = 0;
    for (int i = 0; i < pieces.count(); i++) {
      count += (int) ((pieces.end(i) - pieces.start(i) + maxRun - 1) >>> maxRunBits);
    }
    int[] encoded = new int[count];
    int k = 0;
    for (int i = 0; i < pieces.count(); i++) {
      for (long s = pieces.start(i); s < pieces.end(i); s += maxRun) {
        encoded[k++] = encode((int) s, (int) Math.min(maxRun, pieces.end(i) - s), pieces.types(i));
      }
    }
    if (count == b - a && Arrays.equals(encoded, 0, count, old, a, b)) {
      return false;
    }
    int length = n - (b - a) + count;
    int regionEnd = Math.max(to, b > a ? endOf(old[b - 1]) : to);
    int oldLastEnd = n == 0 ? 0 : endOf(old[n - 1]);
    int[] list = null;
    if (length > 0 && old != null && (slot == growingSlot || n - b <= IN_PLACE_TAIL)) {
      // Near the end of the list (a structure allocated just before the last one), or in the
      // growing array: splice in place, moving the tail, with no new array.
      list = reserve(slot, old, n, Math.max(n, length));
      System.arraycopy(list, b, list, a + count, n - b);
      System.arraycopy(encoded, 0, list, a, count);
      growingCount = length;
      if (list.length > length + Math.max(8, length >>> 2)) {
        trimGrowing();   // mostly removals: give the room back
        list = lists[slot];
      }
    } else {
      if (length > 0) {
        list = new int[length];
        if (a > 0) {
          System.arraycopy(old, 0, list, 0, a);
        }
        System.arraycopy(encoded, 0, list, a, count);
        if (b < n) {
          System.arraycopy(old, b, list, a + count, n - b);
        }
      }
      arrayBytes += arrayBytes(length) - (old == null ? 0 : arrayBytes(old.length));
      lists[slot] = list;
      if (slot == growingSlot) {
        growingSlot = -1;   // the new array is exactly sized
      }
    }
    fragmentCount += length - n;
    char[] index = indexOf(slot);
    int chunks = chunks(length);
    if (index == null ? chunks != 0 : index.length != chunks) {
      setIndex(slot, index(list, length));
    } else if (index != null) {
      updateIndex(index, list, length, a, count - (b - a), regionEnd, oldLastEnd);
    }
    summarize(slot);
    return true;
  }

  /** Lists whose rewritten runs are at most this many runs from the end are spliced in place. */
  private static final int IN_PLACE_TAIL = 16;

  /**
   * Updates the index of a list (same chunk count) after runs {@code [a, ...)} ending by {@code
   * regionEnd} were replaced, shifting later runs by {@code delta}: chunks whose first run lies
   * before the region keep it, chunks starting at or after the region's end shift, the others are
   * found again by a forward scan from {@code a}. O(chunks + runs rescanned).
   */
  private void updateIndex(char[] index, int[] list, int n, int a, int delta, int regionEnd, int oldLastEnd) {
    int chunkShift = windowBits - Integer.numberOfTrailingZeros(index.length);
    int oldLastChunk = oldLastEnd == 0 ? -1 : (oldLastEnd - 1) >>> chunkShift;
    int lastChunk = (endOf(list[n - 1]) - 1) >>> chunkShift;
    int run = a;
    for (int chunk = 0; chunk <= lastChunk; chunk++) {
      int chunkStart = chunk << chunkShift;
      if (chunk <= oldLastChunk && index[chunk] < a) {
        continue;
      }
      if (chunk <= oldLastChunk && chunkStart >= regionEnd) {
        index[chunk] = (char) (index[chunk] + delta);
        continue;
      }
      while (endOf(list[run]) <= chunkStart) {
        run++;
      }
      index[chunk] = (char) run;
    }
  }

  private static long indexBytes(char[] index) {
    return index == null ? 0 : Memory.charArray(index.length);
  }

  /** Bytes of a list of {@code length} fragments; an empty list is {@code null}. */
  private static long arrayBytes(int length) {
    return length == 0 ? 0 : Memory.intArray(length);
  }

  int encode(int start, int length, int types) {
    assert start >= 0 && length >= 1 && length <= maxRun && start + length <= windowSize;
    assert types != 0 && (types & ~typeMask) == 0;
    return (int) ((long) start << startShift) | (length - 1) << typeBits | types;
  }

  int start(int fragment) {
    return (int) (Integer.toUnsignedLong(fragment) >>> startShift);
  }

  int length(int fragment) {
    return ((fragment >>> typeBits) & lengthMask) + 1;
  }

  int types(int fragment) {
    return fragment & typeMask;
  }

  /** The window's fragments, for tests. */
  int[] fragments(int slot) {
    return lists[slot] == null ? new int[0] : Arrays.copyOf(lists[slot], count(slot, lists[slot]));
  }

  /** Bytes held: the array of lists and every fragment array. */
  long memoryBytes() {
    return Memory.FRAGMENT_LIST + Memory.refArray(lists.length) + Memory.intArray(summaries.length)
        + (indexes == null ? 0 : Memory.refArray(indexes.length)) + arrayBytes;
  }

  /**
   * Checks every list is canonical (see the class notes) and the byte and fragment counts.
   *
   * @throws IllegalStateException describing the first violation
   */
  void validate() {
    long bytes = 0;
    long total = 0;
    check(slots <= lists.length && (indexes == null || indexes.length == lists.length),
        "slots %d > capacity %d, or index capacity differs", slots, lists.length);
    for (int slot = 0; slot < lists.length; slot++) {
      int[] fragments = lists[slot];
      if (fragments == null) {
        check(indexOf(slot) == null, "slot %d has an index but no fragments", slot);
        continue;
      }
      check(slot < slots, "unused slot %d has fragments", slot);
      validate(slot);
      bytes += arrayBytes(fragments.length) + indexBytes(indexOf(slot));
      total += count(slot, fragments);
    }
    check(bytes == arrayBytes, "fragment bytes %d, counted %d", bytes, arrayBytes);
    check(total == fragmentCount, "fragments %d, counted %d", total, fragmentCount);
  }

  /**
   * Checks that one window's list is canonical (see the class notes).
   *
   * @throws IllegalStateException describing the first violation
   */
  void validate(int slot) {
    int[] fragments = lists[slot];
    check(growingSlot < slots && (growingSlot < 0 || lists[growingSlot] != null),
        "growing slot %d of %d slots has no list", growingSlot, slots);
    if (fragments == null) {
      check(indexOf(slot) == null, "slot %d has an index but no fragments", slot);
      check(summaries[slot] == 0, "slot %d has a summary 0x%x but no fragments", slot, summaries[slot]);
      return;
    }
    int n = count(slot, fragments);
    check(summaries[slot] == summary(fragments, n), "slot %d: %s", slot,
        slotSummaryMismatch(summaries[slot], fragments, n));
    check(n > 0 && n <= fragments.length, "slot %d holds %d fragments in an array of %d", slot, n,
        fragments.length);
    check(slot == growingSlot || n == fragments.length, "slot %d: spare room but not growing", slot);
    char[] expected = index(fragments, n);
    char[] index = indexOf(slot);
    check((index == null) == (expected == null) && (index == null || index.length == expected.length),
        "slot %d: chunk index of %s entries, expected %s", slot, index == null ? "no" : index.length,
        expected == null ? "no" : expected.length);
    if (index != null) {
      int chunkShift = windowBits - Integer.numberOfTrailingZeros(index.length);
      int lastChunk = (endOf(fragments[n - 1]) - 1) >>> chunkShift;
      check(Arrays.equals(index, 0, lastChunk + 1, expected, 0, lastChunk + 1),
          "slot %d: chunk index %s, expected %s (up to chunk %d)", slot, Arrays.toString(index),
          Arrays.toString(expected), lastChunk);
    }
    int end = 0;
    int previousTypes = 0;
    int previousLength = 0;
    for (int i = 0; i < n; i++) {
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

  static void check(boolean condition, String format, Object... args) {
    if (!condition) {
      throw new IllegalStateException(String.format(format, args));
    }
  }
}
