package io.qcow2.overlap.tck;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The suite for the strategy {@link ConformanceKit} was asked to check. JUnit instantiates this
 * class, so the strategy, seed and operation count reach it through {@link #select}.
 */
final class SelectedStrategyConformance extends OverlapCheckerConformanceTest {
  /** What the kit runs. */
  record Selection(String name, OverlapCheckerProvider provider, long seed, long operations,
      Path failureDirectory) {
    Selection {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(provider, "provider");
      Objects.requireNonNull(failureDirectory, "failureDirectory");
    }
  }

  private static volatile Selection selection;

  static void select(Selection selected) {
    selection = selected;
  }

  private static Selection selection() {
    Selection current = selection;
    if (current == null) {
      throw new IllegalStateException("no strategy selected: run this suite through ConformanceKit");
    }
    return current;
  }

  @Override
  protected OverlapChecker create(OverlapCheckerSetup setup) {
    return selection().provider().create(setup);
  }

  @Override
  protected long differentialSeed() {
    return selection().seed();
  }

  @Override
  protected long differentialOperations() {
    return selection().operations();
  }

  @Override
  protected Path failureDirectory() {
    return selection().failureDirectory();
  }

  @Override
  protected String strategyName() {
    return selection().name();
  }
}
