package io.qcow2.overlap.runs;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Objects;

/**
 * The {@code runs} strategy: the image's metadata as one sorted list of runs, bit-packed in blocks
 * of at most {@value #BLOCK_RUNS} runs behind a primitive index. Checks cost the same whether the
 * image was touched a moment ago or never (there is no cache), and memory follows the number of
 * metadata runs: about 2 to 3 bytes per run on images made by {@code qemu-img create}. It tracks
 * {@code enter}/{@code remove} events and does not read the setup's view. It has no options.
 *
 * <p>Checkers are <b>not thread-safe</b>: the engine serialises all calls per open image.
 */
public final class RunsOverlapCheckerProvider implements OverlapCheckerProvider {
  /** The strategy's name. */
  public static final String NAME = "runs";
  /** Most runs per block; see the module README for the measurements behind it. */
  public static final int BLOCK_RUNS = 128;

  /** For {@link java.util.ServiceLoader}. */
  public RunsOverlapCheckerProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    Objects.requireNonNull(setup, "setup");
    return new RunsOverlapChecker(setup, BLOCK_RUNS);
  }
}
