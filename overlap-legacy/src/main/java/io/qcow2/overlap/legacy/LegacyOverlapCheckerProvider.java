package io.qcow2.overlap.legacy;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Objects;

/**
 * Provides the {@value #NAME} strategy: QEMU's original overlap check, which scans the image's
 * metadata through {@link OverlapCheckerSetup#view()} on every check and keeps nothing itself. It
 * reads no strategy options.
 */
public final class LegacyOverlapCheckerProvider implements OverlapCheckerProvider {
  /** The strategy's name. */
  public static final String NAME = "legacy";

  /** For {@link java.util.ServiceLoader}. */
  public LegacyOverlapCheckerProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new LegacyOverlapChecker(Objects.requireNonNull(setup, "setup"));
  }
}
