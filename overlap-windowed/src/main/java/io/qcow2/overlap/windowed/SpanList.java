package io.qcow2.overlap.windowed;

import java.util.Arrays;

/**
 * Metadata that covers whole windows: sorted, disjoint ranges of window indices {@code [first,
 * end)}, each with a type mask that applies to every cluster of those windows. A valid {@code
 * enter(0, 2^47 clusters)} is one span, not 2^47 / W windows.
 *
 * <p>Canonical: non-empty masks, no two touching spans with the same mask. The arrays are exactly
 * as long as the number of spans, and {@code null} when there is none (the common case: real images
 * enter tables of a few clusters, never a whole window of 65536).
 */
final class SpanList {
  private long[] firsts;
  private long[] ends;
  private int[] masks;

  int count() {
    return firsts == null ? 0 : firsts.length;
  }

  /** The union of the masks of spans that overlap windows {@code [first, end)}, within wanted. */
  int typesIn(long first, long end, int wanted) {
    if (firsts == null) {
      return 0;
    }
    int found = 0;
    for (int i = firstEndingAfter(first); i < firsts.length && firsts[i] < end; i++) {
      found |= masks[i];
      if ((found & wanted) == wanted) {
        break;
      }
    }
    return found & wanted;
  }

  /** Index of the first span whose end is greater than {@code window}. */
  private int firstEndingAfter(long window) {
    int lo = 0;
    int hi = firsts.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (ends[mid] <= window) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /** Adds {@code types} to windows {@code [first, end)}. */
  void enter(long first, long end, int types) {
    rewrite(first, end, types, true);
  }

  /** Clears {@code types} from windows {@code [first, end)}. */
  void remove(long first, long end, int types) {
    rewrite(first, end, types, false);
  }

  /*
   * Rewrites the spans that overlap or touch [first, end] (touching ones may merge), in three
   * passes: the parts before 'first', the new content of [first, end), the parts after 'end'. Cost:
   * O(log spans + spans touched) plus one copy of the arrays when they change.
   */
  private void rewrite(long first, long end, int types, boolean enter) {
    assert first < end && types != 0;
    int n = count();
    int a = 0;
    if (n > 0) {
      a = firstEndingAfter(first - 1);   // first span with end >= first
    }
    int b = a;
    while (b < n && firsts[b] <= end) {
      b++;
    }
    Pieces pieces = new Pieces();
    for (int i = a; i < b; i++) {
      pieces.add(firsts[i], Math.min(ends[i], first), masks[i]);
    }
    long position = first;
    for (int i = a; i < b; i++) {
      if (ends[i] <= first || firsts[i] >= end) {
        continue;
      }
      if (enter) {
        pieces.add(position, firsts[i], types);
      }
      long from = Math.max(firsts[i], first);
      long to = Math.min(ends[i], end);
      pieces.add(from, to, enter ? masks[i] | types : masks[i] & ~types);
      position = to;
    }
    if (enter) {
      pieces.add(position, end, types);
    }
    for (int i = a; i < b; i++) {
      pieces.add(Math.max(firsts[i], end), ends[i], masks[i]);
    }
    int count = pieces.count();
    if (count == b - a) {
      boolean same = true;
      for (int i = 0; i < count && same; i++) {
        same = pieces.start(i) == firsts[a + i] && pieces.end(i) == ends[a + i]
            && pieces.types(i) == masks[a + i];
      }
      if (same) {
        return;
      }
    }
    int length = n - (b - a) + count;
    if (length == 0) {
      firsts = null;
      ends = null;
      masks = null;
      return;
    }
    long[] newFirsts = new long[length];
    long[] newEnds = new long[length];
    int[] newMasks = new int[length];
    if (a > 0) {
      System.arraycopy(firsts, 0, newFirsts, 0, a);
      System.arraycopy(ends, 0, newEnds, 0, a);
      System.arraycopy(masks, 0, newMasks, 0, a);
    }
    for (int i = 0; i < count; i++) {
      newFirsts[a + i] = pieces.start(i);
      newEnds[a + i] = pieces.end(i);
      newMasks[a + i] = pieces.types(i);
    }
    if (b < n) {
      System.arraycopy(firsts, b, newFirsts, a + count, n - b);
      System.arraycopy(ends, b, newEnds, a + count, n - b);
      System.arraycopy(masks, b, newMasks, a + count, n - b);
    }
    firsts = newFirsts;
    ends = newEnds;
    masks = newMasks;
  }

  long memoryBytes() {
    int n = count();
    return Memory.SPAN_LIST + (n == 0 ? 0 : 2 * Memory.longArray(n) + Memory.intArray(n));
  }

  /**
   * Checks that the spans are sorted, disjoint, non-empty, canonical and within {@code
   * [0, windowLimit)}.
   *
   * @throws IllegalStateException describing the first violation
   */
  void validate(long windowLimit) {
    if (firsts == null) {
      FragmentList.check(ends == null && masks == null, "span arrays half empty");
      return;
    }
    FragmentList.check(firsts.length > 0 && ends.length == firsts.length && masks.length == firsts.length,
        "span arrays of lengths %d, %d, %d", firsts.length, ends.length, masks.length);
    for (int i = 0; i < firsts.length; i++) {
      FragmentList.check(firsts[i] >= 0 && firsts[i] < ends[i] && ends[i] <= windowLimit,
          "span %d is [%d, %d), limit %d", i, firsts[i], ends[i], windowLimit);
      FragmentList.check(masks[i] != 0, "span %d has no types", i);
      if (i > 0) {
        FragmentList.check(firsts[i] >= ends[i - 1], "span %d overlaps span %d", i, i - 1);
        FragmentList.check(firsts[i] > ends[i - 1] || masks[i] != masks[i - 1],
            "spans %d and %d touch with the same types", i - 1, i);
      }
    }
  }
}
