package io.qcow2.bench;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;

/**
 * The measured strategy's checker, with every call into it timed for {@link CheckProbe}. Answers
 * exactly what the wrapped checker answers.
 */
final class ProbeChecker extends OverlapChecker {
  private final OverlapChecker inner;
  private final int clusterBits;

  ProbeChecker(OverlapCheckerSetup setup, OverlapChecker inner) {
    super(setup);
    this.inner = inner;
    this.clusterBits = setup.clusterBits();
  }

  @Override
  public long memoryBytes() {
    return inner.memoryBytes();
  }

  @Override
  protected void enterClusters(long first, long count, int types) {
    long start = System.nanoTime();
    inner.enter(first << clusterBits, count, types);
    CheckProbe.call(start, System.nanoTime());
  }

  @Override
  protected void removeClusters(long first, long count, int types) {
    long start = System.nanoTime();
    inner.remove(first << clusterBits, count, types);
    CheckProbe.call(start, System.nanoTime());
  }

  @Override
  protected int checkClusters(long first, long count, int wanted) {
    long start = System.nanoTime();
    int found = inner.check(first << clusterBits, count << clusterBits,
        MetadataType.ALL_MASK & ~wanted);
    CheckProbe.call(start, System.nanoTime());
    return found;
  }

  @Override
  protected void addStats(Map<String, Long> stats) {
    inner.stats().forEach(stats::putIfAbsent);
  }
}
