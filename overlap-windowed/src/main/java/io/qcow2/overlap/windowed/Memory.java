package io.qcow2.overlap.windowed;

/**
 * Object and array sizes on a 64-bit HotSpot JVM with compressed class pointers and compressed
 * oops (heaps below 32 GiB, the default): 12-byte object headers, 16-byte array headers, 8-byte
 * alignment. The instance sizes are what JOL reports for our classes on JDK 17
 * ({@code MemoryAccountingTest} checks the totals against JOL).
 */
final class Memory {
  private static final int ARRAY_HEADER = 16;

  /**
   * {@link WindowedOverlapChecker}: header, the base class's 2 ints and 3 longs, own 7 ints, 7
   * longs, 8 references and 2 booleans.
   */
  static final long CHECKER = 168;
  /** {@link FragmentList}: header, 13 ints, 2 longs, 3 references. */
  static final long FRAGMENT_LIST = 96;
  /** {@link WindowTable}: header, 2 ints, 3 references. */
  static final long WINDOW_TABLE = 32;
  /** {@link BitmapCache}: header, 8 ints, 5 longs, 11 references. */
  static final long BITMAP_CACHE = 120;
  /** {@link SpanList}: header, 3 references. */
  static final long SPAN_LIST = 24;

  private Memory() {}

  static long align(long bytes) {
    return (bytes + 7) & ~7L;
  }

  static long intArray(long length) {
    return align(ARRAY_HEADER + 4 * length);
  }

  static long charArray(long length) {
    return align(ARRAY_HEADER + 2 * length);
  }

  static long longArray(long length) {
    return align(ARRAY_HEADER + 8 * length);
  }

  static long booleanArray(long length) {
    return align(ARRAY_HEADER + length);
  }

  static long refArray(long length) {
    return align(ARRAY_HEADER + 4 * length);
  }
}
