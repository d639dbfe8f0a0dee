package io.qcow2.format;

/**
 * Reading and writing refcount entries of width {@code 1 << order} bits in a refcount block, as
 * QEMU lays them out: sub-byte widths from the least significant bit, wider ones big-endian.
 */
final class RefcountEntries {
  private RefcountEntries() {}

  static long get(byte[] block, int index, int order) {
    switch (order) {
      case 0: case 1: case 2: {
        int bits = 1 << order;
        int bit = index << order;
        return (block[bit >>> 3] >>> (bit & 7)) & ((1 << bits) - 1);
      }
      case 3:
        return block[index] & 0xff;
      case 4:
        return ((block[2 * index] & 0xff) << 8) | (block[2 * index + 1] & 0xff);
      case 5: {
        long v = 0;
        for (int i = 4 * index, e = i + 4; i < e; i++) {
          v = (v << 8) | (block[i] & 0xff);
        }
        return v;
      }
      case 6: {
        long v = 0;
        for (int i = 8 * index, e = i + 8; i < e; i++) {
          v = (v << 8) | (block[i] & 0xff);
        }
        return v;
      }
      default:
        throw new IllegalArgumentException("refcount order " + order);
    }
  }

  static void set(byte[] block, int index, int order, long value) {
    assert Long.compareUnsigned(value, max(order)) <= 0 : value;
    switch (order) {
      case 0: case 1: case 2: {
        int bits = 1 << order;
        int bit = index << order;
        int mask = ((1 << bits) - 1) << (bit & 7);
        block[bit >>> 3] = (byte) ((block[bit >>> 3] & ~mask) | ((int) value << (bit & 7)));
        return;
      }
      case 3:
        block[index] = (byte) value;
        return;
      default: {
        int bytes = 1 << (order - 3);
        for (int i = bytes * index + bytes - 1, e = bytes * index; i >= e; i--) {
          block[i] = (byte) value;
          value >>>= 8;
        }
      }
    }
  }

  /** Largest refcount the width holds, unsigned. */
  static long max(int order) {
    return order == 6 ? -1L : (1L << (1 << order)) - 1;
  }
}
