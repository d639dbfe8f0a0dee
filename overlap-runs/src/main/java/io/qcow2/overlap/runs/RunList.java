package io.qcow2.overlap.runs;

import java.util.Arrays;

/**
 * A growable list of runs {@code [start, end)} with their type masks, in three parallel primitive
 * arrays: the unpacked form an update works on. Lives for one {@code enter}/{@code remove} only, so
 * it is not part of the checker's memory.
 */
final class RunList {
  private long[] starts;
  private long[] ends;
  private int[] types;
  private int size;

  RunList(int capacity) {
    int initial = Math.max(4, capacity);
    starts = new long[initial];
    ends = new long[initial];
    types = new int[initial];
  }

  int size() {
    return size;
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

  /** Appends a run that starts at or after the end of the last one, with no merging. */
  void add(long start, long end, int runTypes) {
    assert start < end && runTypes != 0 : start + ".." + end + " types " + runTypes;
    assert size == 0 || start >= ends[size - 1] : "unsorted: " + start + " < " + ends[size - 1];
    if (size == starts.length) {
      int capacity = size + (size >> 1) + 1;
      starts = Arrays.copyOf(starts, capacity);
      ends = Arrays.copyOf(ends, capacity);
      types = Arrays.copyOf(types, capacity);
    }
    starts[size] = start;
    ends[size] = end;
    types[size] = runTypes;
    size++;
  }

  /**
   * Appends {@code [start, end)} with {@code runTypes}, keeping the list canonical: an empty range or
   * empty mask adds nothing, and a run that continues the last one with the same types extends it.
   */
  /** Empties the list, keeping its arrays. */
  void clear() {
    size = 0;
  }

  void emit(long start, long end, int runTypes) {
    if (start >= end || runTypes == 0) {
      return;
    }
    if (size > 0 && ends[size - 1] == start && types[size - 1] == runTypes) {
      ends[size - 1] = end;
      return;
    }
    add(start, end, runTypes);
  }
}
