package io.qcow2.overlap.tck;

import java.util.Arrays;

/**
 * Cluster number ({@code >= 0}) to non-empty type mask: open addressing with linear probing and
 * backward-shift deletion (no tombstones), 12 bytes per slot, at most half full. It keeps the
 * reference model at about 24 bytes per metadata cluster instead of a boxed map's 80, so that
 * benchmark-sized images (10^7 structures) fit.
 */
final class ClusterTypeMap {
  private static final long EMPTY = -1;
  private static final int MIN_CAPACITY = 16;

  private long[] keys;
  private int[] values;
  private int mask;
  private int size;

  ClusterTypeMap() {
    allocate(MIN_CAPACITY);
  }

  private void allocate(int capacity) {
    keys = new long[capacity];
    Arrays.fill(keys, EMPTY);
    values = new int[capacity];
    mask = capacity - 1;
  }

  int size() {
    return size;
  }

  /** Bytes held by the two arrays. */
  long arrayBytes() {
    return 16L + 8L * keys.length + 16L + 4L * values.length;
  }

  private int home(long key) {
    long h = key * 0x9E37_79B9_7F4A_7C15L;
    return (int) (h ^ (h >>> 32)) & mask;
  }

  private int find(long key) {
    for (int i = home(key); ; i = (i + 1) & mask) {
      long k = keys[i];
      if (k == key) {
        return i;
      }
      if (k == EMPTY) {
        return -1;
      }
    }
  }

  /** The mask of {@code key}; 0 if absent. */
  int get(long key) {
    int i = find(key);
    return i < 0 ? 0 : values[i];
  }

  /** Adds {@code bits} to the mask of {@code key}. */
  void or(long key, int bits) {
    assert key >= 0 && bits != 0 : key + " " + bits;
    for (int i = home(key); ; i = (i + 1) & mask) {
      long k = keys[i];
      if (k == key) {
        values[i] |= bits;
        return;
      }
      if (k == EMPTY) {
        keys[i] = key;
        values[i] = bits;
        if (++size * 2 > keys.length) {
          rehash(keys.length * 2);
        }
        return;
      }
    }
  }

  /** Clears {@code bits} from the mask of {@code key}, dropping the key when nothing is left. */
  void andNot(long key, int bits) {
    int i = find(key);
    if (i < 0) {
      return;
    }
    int left = values[i] & ~bits;
    if (left != 0) {
      values[i] = left;
      return;
    }
    size--;
    int hole = i;
    for (int j = (i + 1) & mask; keys[j] != EMPTY; j = (j + 1) & mask) {
      // Move the entry at j back into the hole unless its home lies cyclically in (hole, j].
      if (((j - home(keys[j])) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j];
        values[hole] = values[j];
        hole = j;
      }
    }
    keys[hole] = EMPTY;
    values[hole] = 0;
  }

  private void rehash(int capacity) {
    long[] oldKeys = keys;
    int[] oldValues = values;
    allocate(capacity);
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldKeys[i] != EMPTY) {
        int j = home(oldKeys[i]);
        while (keys[j] != EMPTY) {
          j = (j + 1) & mask;
        }
        keys[j] = oldKeys[i];
        values[j] = oldValues[i];
      }
    }
  }

  /** A visitor of entries. */
  interface EntryVisitor {
    void visit(long key, int value);
  }

  void forEach(EntryVisitor visitor) {
    for (int i = 0; i < keys.length; i++) {
      if (keys[i] != EMPTY) {
        visitor.visit(keys[i], values[i]);
      }
    }
  }

  /** The union of the masks of keys in {@code [first, first + count)}, by scanning every slot. */
  int unionInRange(long first, long count) {
    int found = 0;
    for (int i = 0; i < keys.length; i++) {
      long k = keys[i];
      if (k != EMPTY && k >= first && k - first < count) {
        found |= values[i];
      }
    }
    return found;
  }
}
