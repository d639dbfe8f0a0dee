package io.qcow2.overlap.tck;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;

/** The reference model passes its own suite. */
class ReferenceModelConformanceTest extends OverlapCheckerConformanceTest {
  @Override
  protected OverlapChecker create(OverlapCheckerSetup setup) {
    return new ReferenceModel(setup);
  }
}
