package io.qcow2.format;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;

/**
 * A strategy for crash tests ({@value #NAME}): answers as {@link MapOverlapChecker} and, once armed
 * on the current thread with {@link #crashBefore}, throws {@link SimulatedCrash} from the n-th
 * check on, as if the process died there. The engine checks every host write before it does it
 * ({@code HostFile.write} / {@code checkWrite}; only the corrupt bit is written unchecked), so
 * with {@code overlap-check=all} every host write has a check before it and a crash at each check
 * is a crash between two host writes. Not every check is right before its write: a guest request
 * checks all its data writes, then writes them, and the refusal of frees of protected metadata
 * ({@code Refcounts}, {@code RefcountShadow.checkFrees}) asks the checker without writing, so
 * some crash points repeat one state. Unarmed it is an ordinary strategy ({@code test-agree}
 * runs it beside the others).
 */
final class CrashingOverlapChecker extends OverlapChecker {
  static final String NAME = "test-crash";
  private static final ThreadLocal<long[]> CHECKS_LEFT =
      ThreadLocal.withInitial(() -> new long[] {Long.MAX_VALUE});

  private final MapOverlapChecker answers;

  /** The process died before a host write. */
  static final class SimulatedCrash extends RuntimeException {
    private static final long serialVersionUID = 1L;

    SimulatedCrash(long offset) {
      super("simulated crash before a write at 0x" + Long.toHexString(offset));
    }
  }

  CrashingOverlapChecker(OverlapCheckerSetup setup) {
    super(setup);
    answers = new MapOverlapChecker(setup);
  }

  /** Open options for a crash test: this strategy, every type checked. */
  static Map<String, String> options() {
    return Map.of("overlap-strategy", NAME, "overlap-check", "all");
  }

  /** Arms the current thread: the check after {@code checks} more fails (MAX_VALUE: never). */
  static void crashBefore(long checks) {
    CHECKS_LEFT.get()[0] = checks;
  }

  /** Checks left before the crash: {@code MAX_VALUE} minus the checks since arming with it. */
  static long checksLeft() {
    return CHECKS_LEFT.get()[0];
  }

  @Override
  public long memoryBytes() {
    return answers.memoryBytes();
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    answers.enterClusters(first, count, types);
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    answers.removeClusters(first, count, types);
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    long[] left = CHECKS_LEFT.get();
    if (left[0]-- <= 0) {
      left[0] = 0; // stays dead: every later write fails too
      throw new SimulatedCrash(first << clusterBits());
    }
    return answers.checkClusters(first, count, wanted);
  }

  /** Registered as {@value #NAME}. */
  public static final class Provider implements OverlapCheckerProvider {
    @Override
    public String name() {
      return NAME;
    }

    @Override
    public OverlapChecker create(OverlapCheckerSetup setup) {
      return new CrashingOverlapChecker(setup);
    }
  }
}
