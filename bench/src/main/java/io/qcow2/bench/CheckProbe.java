package io.qcow2.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The direct measurement of a macro workload's overlap share: CPU time inside the strategy's code
 * over the CPU time of the workload's own thread, for one single-shot iteration.
 *
 * <p>{@link ProbeChecker} times every call into the strategy with {@link System#nanoTime} (a vDSO
 * read, ~25 ns here; the thread CPU clock costs ~550 ns a read, too much per check). A wall-clock
 * interval is CPU time only while the thread is not descheduled, so the workload is cut into
 * windows of about {@value #WINDOW_NANOS} ns (closed at the end of a call), each bracketed by the
 * thread CPU clock: a window whose wall time exceeds its CPU time by more than {@value
 * #PREEMPTION_SLACK_NANOS} ns had the thread descheduled inside it, and is left out of numerator
 * and denominator alike. Preemption by a neighbour does not depend on which code the workload is
 * running, so the kept windows are a fair sample of the workload; on an idle machine every window
 * is kept. The probe's own cost per call is taken out of both sides: inside the timed interval,
 * as measured in situ by the floor pass when one ran (see {@link #startFloor}), else as calibrated
 * in a tight loop ({@link #calibrate}); outside it, as calibrated.
 *
 * <p>Single-threaded by design: the workload thread calls {@link #start}, the checker and {@link
 * #stop}; JMH's profiler thread reads {@link #lastIteration} after the iteration.
 */
final class CheckProbe {
  static final long WINDOW_NANOS = 250_000;
  static final long PREEMPTION_SLACK_NANOS = 20_000;

  /**
   * One iteration's figures.
   *
   * @param noneCpuMillis the thread CPU time of the paired overlap-check=none pass run just before
   *     the iteration (see {@link #startReference}), NaN when there was none
   * @param floorNanos the probe's interval around a no-op call, per call, measured by the floor
   *     pass just before the iteration (see {@link #startFloor}) and taken out of the share; NaN
   *     when there was none (the tight-loop calibration was taken out instead)
   */
  record Iteration(double sharePercent, double cpuMillis, double keptPercent, long calls,
      double noneCpuMillis, double floorNanos) {
    /** {@code (t − t_none) / t} in percent of the paired none pass, NaN without one. */
    double vsNonePercent() {
      return 100 * (cpuMillis - noneCpuMillis) / cpuMillis;
    }
  }

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  /** Per call: the probe's cost that lands inside the timed interval, and its whole cost. */
  private static double insideNanos = Double.NaN;
  private static double overheadNanos = Double.NaN;
  /** The part of the thread CPU clock's reads that falls inside a window, per window. */
  private static double clockNanos = Double.NaN;

  private static boolean running;
  private static long startCpu;
  private static long windowWall;
  private static long windowCpu;
  private static long windowInside;
  private static long windowCalls;
  private static long keptInside;
  private static long keptCpu;
  private static long keptCalls;
  private static long windows;
  private static long keptWindows;
  private static long calls;

  private static volatile Iteration last;

  private static long referenceStartCpu;
  private static double referenceCpu = Double.NaN;

  private static boolean floorPass;
  private static double floorNanos = Double.NaN;

  private static boolean calibrating;
  private static long calibrationInside;
  /** Keeps the calibration loops' results alive, so the JIT cannot drop the calls. */
  private static volatile long calibrationSink;

  private CheckProbe() {}

  /** Starts an iteration on the calling thread. */
  static void start() {
    if (Double.isNaN(insideNanos)) {
      calibrate();
    }
    keptInside = 0;
    keptCpu = 0;
    keptCalls = 0;
    windows = 0;
    keptWindows = 0;
    calls = 0;
    running = true;
    openWindow(System.nanoTime());
    startCpu = windowCpu;
  }

  /**
   * Starts the floor pass: the same workload, run by the iteration's setup just before {@link
   * #start}, with the probe around a checker that does nothing ({@link ProbeProvider#selectFloor}).
   * Its {@link #stop} publishes nothing but the mean interval the probe measured around a call that
   * does nothing, in the workload's own cache and branch state; the next iteration takes that out
   * of its share instead of the tight-loop calibration, which left 0.3-0.7 % of W1 and W3 on a
   * no-op strategy.
   */
  static void startFloor() {
    start();
    floorPass = true;
  }

  /** Ends the iteration started by {@link #start} and publishes its figures. */
  static void stop() {
    long now = System.nanoTime();
    closeWindow(now);
    running = false;
    if (floorPass) {
      floorPass = false;
      floorNanos = keptCalls == 0 ? Double.NaN : keptInside / (double) keptCalls;
      return;
    }
    // Every window costs two reads of the thread CPU clock: probe cost, not workload.
    double cpu = THREADS.getCurrentThreadCpuTime() - startCpu - calls * overheadNanos
        - windows * 2 * clockNanos;
    double inside = Double.isNaN(floorNanos) ? insideNanos : floorNanos;
    double insideKept = keptInside - keptCalls * inside;
    double cpuKept = keptCpu - keptCalls * overheadNanos - keptWindows * clockNanos;
    double share = calls == 0 ? 0
        : keptWindows == 0 || cpuKept <= 0 ? Double.NaN : 100 * insideKept / cpuKept;
    last = new Iteration(share, cpu / 1e6, windows == 0 ? 0 : 100.0 * keptWindows / windows, calls,
        referenceCpu / 1e6, floorNanos);
    referenceCpu = Double.NaN;
    floorNanos = Double.NaN;
  }

  /**
   * Starts timing the paired reference pass: the same workload with overlap-check=none, run by the
   * iteration's setup on the workload thread just before {@link #start}. No checker runs in it, so
   * its whole thread CPU time is the reference.
   */
  static void startReference() {
    referenceStartCpu = THREADS.getCurrentThreadCpuTime();
  }

  /** Ends the reference pass started by {@link #startReference}; the next {@link #stop} reports it. */
  static void stopReference() {
    referenceCpu = THREADS.getCurrentThreadCpuTime() - referenceStartCpu;
  }

  /** The last finished iteration, or null. */
  static Iteration lastIteration() {
    return last;
  }

  /** Clears {@link #lastIteration}, so that a stale value is never reported twice. */
  static void clear() {
    last = null;
    referenceCpu = Double.NaN;
    floorNanos = Double.NaN;
  }

  /** Records one call into the strategy that started at {@code startWall} and ended at {@code endWall}. */
  static void record(long startWall, long endWall) {
    if (!running) {
      return; // opening or closing the image, outside the measured workload
    }
    windowInside += endWall - startWall;
    windowCalls++;
    calls++;
    if (endWall - windowWall >= WINDOW_NANOS) {
      closeWindow(endWall);
      openWindow(System.nanoTime());
    }
  }

  private static void openWindow(long wall) {
    windowCpu = THREADS.getCurrentThreadCpuTime();
    windowWall = wall;
    windowInside = 0;
    windowCalls = 0;
  }

  private static void closeWindow(long wall) {
    long cpu = THREADS.getCurrentThreadCpuTime();
    long cpuSpan = cpu - windowCpu;
    long wallSpan = wall - windowWall;
    windows++;
    if (wallSpan - cpuSpan <= PREEMPTION_SLACK_NANOS) {
      keptWindows++;
      keptInside += windowInside;
      keptCpu += cpuSpan;
      keptCalls += windowCalls;
    }
  }

  /**
   * Measures the probe's own cost: {@link ProbeChecker} around a checker that does nothing, against
   * that checker called directly. The interval it measures around nothing is {@code insideNanos};
   * the extra time per call is {@code overheadNanos}. Medians of several rounds, so one
   * preemption does not set them.
   */
  static void calibrate() {
    int n = 20_000;
    int rounds = 9;
    double[] inside = new double[rounds];
    double[] overhead = new double[rounds];
    NoopChecker noop = new NoopChecker();
    ProbeChecker probed = new ProbeChecker(NoopChecker.SETUP, new NoopChecker());
    long sink = 0;
    for (int r = 0; r < rounds; r++) {
      calibrating = true;
      calibrationInside = 0;
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        sink += noop.check((long) i << 9, 512, 0);
      }
      long t1 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        sink += probed.check((long) i << 9, 512, 0);
      }
      long t2 = System.nanoTime();
      calibrating = false;
      double direct = (t1 - t0) / (double) n;
      overhead[r] = Math.max(0, (t2 - t1) / (double) n - direct);
      inside[r] = Math.max(0, calibrationInside / (double) n - direct);
    }
    long c0 = THREADS.getCurrentThreadCpuTime();
    for (int i = 0; i < 1000; i++) {
      sink += THREADS.getCurrentThreadCpuTime();
    }
    clockNanos = (THREADS.getCurrentThreadCpuTime() - c0) / 1001.0;
    java.util.Arrays.sort(inside);
    java.util.Arrays.sort(overhead);
    insideNanos = inside[rounds / 2];
    overheadNanos = overhead[rounds / 2];
    calibrationSink = sink;
  }

  /** Where {@link ProbeChecker} reports a call: to calibration or to the running iteration. */
  static void call(long startWall, long endWall) {
    if (calibrating) {
      calibrationInside += endWall - startWall;
    } else {
      record(startWall, endWall);
    }
  }

  static double insideNanos() {
    return insideNanos;
  }

  static double overheadNanos() {
    return overheadNanos;
  }
}
