package io.qcow2.overlap.runs;

/**
 * Object and array sizes on a 64-bit HotSpot JVM with compressed class pointers and compressed
 * oops (heaps below 32 GiB, the default): 16-byte array headers, 8-byte alignment. {@code
 * MemoryAccountingTest} checks the totals against JOL.
 */
final class Memory {
  private static final int ARRAY_HEADER = 16;

  /**
   * {@link RunsOverlapChecker}: 12-byte header, the base class's 2 ints and 3 longs, own 8 ints, 9
   * longs, 2 booleans and 11 references, aligned as JOL reports it on JDK 17.
   */
  static final long CHECKER = 200;
  /** The checker's {@code long[3]} of the last check's span. */
  static final long LAST_SPAN = longArray(3);
  /** The checker's tail of pending appends: starts, ends and types of {@link RunsOverlapChecker#TAIL_RUNS} runs. */
  static final long TAIL = 2 * longArray(RunsOverlapChecker.TAIL_RUNS) + intArray(RunsOverlapChecker.TAIL_RUNS);

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
