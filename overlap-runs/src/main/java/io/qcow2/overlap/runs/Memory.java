package io.qcow2.overlap.runs;

/**
 * Object and array sizes on a 64-bit HotSpot JVM with compressed class pointers and compressed
 * oops (heaps below 32 GiB, the default): 16-byte array headers, 8-byte alignment. {@code
 * MemoryAccountingTest} checks the totals against JOL.
 */
final class Memory {
  private static final int ARRAY_HEADER = 16;

  /**
   * {@link RunsOverlapChecker}: 12-byte header, the base class's 2 ints and 3 longs, own 7 ints, 8
   * longs, 2 booleans and 8 references, aligned as JOL reports it on JDK 17.
   */
  static final long CHECKER = 176;
  /** The checker's {@code long[3]} of the last check's span. */
  static final long LAST_SPAN = longArray(3);

  private Memory() {}

  static long align(long bytes) {
    return (bytes + 7) & ~7L;
  }

  static long intArray(long length) {
    return align(ARRAY_HEADER + 4 * length);
  }

  static long longArray(long length) {
    return align(ARRAY_HEADER + 8 * length);
  }
}
