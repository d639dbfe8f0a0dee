package io.qcow2.overlap;

import io.qcow2.overlap.tck.ReferenceModel;

/**
 * A provider registered only for overlap-api's own tests (its services file is left out of the
 * test-jar): the reference model under the name {@value #NAME}.
 */
public final class TestOverlapCheckerProvider implements OverlapCheckerProvider {
  static final String NAME = "test-reference";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    return new ReferenceModel(setup);
  }
}
