package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import java.util.Optional;

/**
 * The one owner of the image's overlap checker: the engine tells it which metadata structures
 * exist (enter, remove) and asks it before host writes (check). In mode {@code none} it is
 * {@link #NONE}, which tracks nothing and never finds an overlap, so no caller tests for a
 * missing checker.
 */
abstract class MetadataTracker {
  /** Mode {@code none}: nothing is tracked, no write overlaps. */
  static final MetadataTracker NONE = new MetadataTracker() {
    @Override
    void enter(long offset, long clusters, int types) {}

    @Override
    void remove(long offset, long clusters, int types) {}

    @Override
    int check(long offset, long length, int ignoredTypes) {
      return 0;
    }

    @Override
    Optional<OverlapChecker> checker() {
      return Optional.empty();
    }

    @Override
    int enabledMask() {
      return 0;
    }
  };

  /** A tracker over {@code checker}, or {@link #NONE} when there is none (mode none). */
  static MetadataTracker of(Optional<OverlapChecker> checker) {
    return checker.<MetadataTracker>map(Checking::new).orElse(NONE);
  }

  /** Clusters {@code [offset, +clusters)} now hold metadata of {@code types}. */
  abstract void enter(long offset, long clusters, int types);

  /** Clusters {@code [offset, +clusters)} no longer hold metadata of {@code types}. */
  abstract void remove(long offset, long clusters, int types);

  final void enter(long offset, long clusters, MetadataType type) {
    enter(offset, clusters, type.mask());
  }

  final void remove(long offset, long clusters, MetadataType type) {
    remove(offset, clusters, type.mask());
  }

  /** The types of tracked metadata a write of {@code length} bytes at {@code offset} would hit. */
  abstract int check(long offset, long length, int ignoredTypes);

  /** The checker, empty in mode none. */
  abstract Optional<OverlapChecker> checker();

  /** The metadata types checked, as a mask (0 in mode none). */
  abstract int enabledMask();

  private static final class Checking extends MetadataTracker {
    private final OverlapChecker checker;

    Checking(OverlapChecker checker) {
      this.checker = checker;
    }

    @Override
    void enter(long offset, long clusters, int types) {
      checker.enter(offset, clusters, types);
    }

    @Override
    void remove(long offset, long clusters, int types) {
      checker.remove(offset, clusters, types);
    }

    @Override
    int check(long offset, long length, int ignoredTypes) {
      return checker.check(offset, length, ignoredTypes);
    }

    @Override
    Optional<OverlapChecker> checker() {
      return Optional.of(checker);
    }

    @Override
    int enabledMask() {
      return checker.enabledMask();
    }
  }
}
