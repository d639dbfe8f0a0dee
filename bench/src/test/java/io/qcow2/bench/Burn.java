package io.qcow2.bench;

/** CPU work of a chosen length for the test strategies: xorshift rounds the JIT cannot remove. */
final class Burn {
  /** Rounds per nanosecond on this machine, measured once (median of five 2-ms runs). */
  static final double ROUNDS_PER_NANO = calibrate();

  private static long sink;

  private Burn() {}

  static long rounds(long seed, long rounds) {
    long x = seed | 1;
    for (long i = 0; i < rounds; i++) {
      x ^= x << 13;
      x ^= x >>> 7;
      x ^= x << 17;
    }
    return x;
  }

  /** Burns about {@code nanos} ns of CPU. */
  static void nanos(double nanos) {
    if (nanos > 0) {
      sink += rounds(sink, Math.round(nanos * ROUNDS_PER_NANO));
    }
  }

  private static double calibrate() {
    long n = 200_000;
    double[] rates = new double[5];
    for (int warm = 0; warm < 20; warm++) {
      sink += rounds(warm, n);
    }
    for (int i = 0; i < rates.length; i++) {
      long start = System.nanoTime();
      sink += rounds(i, n);
      rates[i] = n / (double) Math.max(1, System.nanoTime() - start);
    }
    java.util.Arrays.sort(rates);
    return rates[rates.length / 2];
  }
}
