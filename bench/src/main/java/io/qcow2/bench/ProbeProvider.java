package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;

/**
 * Strategy {@value #NAME}: the strategy named by {@link #select} with every call timed by {@link
 * ProbeChecker}. The engine finds checkers by name, so the wrapper is a provider registered in the
 * bench jar; it is no strategy to benchmark or pick, and {@link Strategies#names()} leaves it out.
 * Public only because {@code ServiceLoader} instantiates it.
 */
public final class ProbeProvider implements OverlapCheckerProvider {
  static final String NAME = "bench-probe";

  /** The target that stands for {@link NoopChecker}: no strategy can have it, names are words. */
  private static final String FLOOR = " floor";

  private static volatile String target;

  public ProbeProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    String name = target;
    if (name == null) {
      throw new IllegalStateException("Strategy '" + NAME + "' is the bench's timing wrapper, not a "
          + "strategy to pick: it wraps the strategy a macro benchmark selects (ProbeProvider.select)");
    }
    OverlapChecker inner = name.equals(FLOOR) ? new NoopChecker(setup)
        : OverlapCheckers.load(name).create(setup);
    return new ProbeChecker(setup, inner);
  }

  /**
   * Makes {@value #NAME} findable from the calling thread and wrap strategy {@code strategy};
   * returns the name to open images with.
   *
   * @throws IllegalArgumentException if no strategy is named {@code strategy}
   */
  static synchronized String select(String strategy) {
    OverlapCheckers.load(strategy); // fails fast with the list of names
    target = strategy;
    return NAME;
  }

  /**
   * Makes {@value #NAME} findable from the calling thread and wrap a checker that does nothing, for
   * {@link CheckProbe#startFloor}'s pass; returns the name to open images with.
   */
  static synchronized String selectFloor() {
    target = FLOOR;
    return NAME;
  }
}
