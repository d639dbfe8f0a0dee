package io.qcow2.overlap.windowed;

import java.util.Arrays;

/**
 * A short-lived, growing sequence of disjoint intervals {@code [start, end)} with a non-zero type
 * mask, appended in increasing order; an interval that touches the previous one with the same types
 * extends it. {@link FragmentList} and {@link SpanList} build the new content of the region they
 * rewrite with it, then encode it.
 */
final class Pieces {
  private long[] starts = new long[8];
  private long[] ends = new long[8];
  private int[] types = new int[8];
  private int count;

  /** Appends {@code [start, end)} with {@code mask}; ignores empty intervals and empty masks. */
  void add(long start, long end, int mask) {
    if (mask == 0 || start >= end) {
      return;
    }
    assert count == 0 || start >= ends[count - 1] : start + " < " + ends[count - 1];
    if (count > 0 && ends[count - 1] == start && types[count - 1] == mask) {
      ends[count - 1] = end;
      return;
    }
    if (count == starts.length) {
      starts = Arrays.copyOf(starts, 2 * count);
      ends = Arrays.copyOf(ends, 2 * count);
      types = Arrays.copyOf(types, 2 * count);
    }
    starts[count] = start;
    ends[count] = end;
    types[count] = mask;
    count++;
  }

  int count() {
    return count;
  }

  long start(int i) {
    return starts[i];
  }

  long end(int i) {
    return ends[i];
  }

  int types(int i) {
    return types[i];
  }
}
