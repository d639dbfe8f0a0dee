package io.qcow2.format.cli;

import io.qcow2.format.Qcow2Image;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckOptions;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The options of every command that opens an image: the overlap strategy and mode, any other open
 * option with {@code -O key=value[,key=value...]}, the strategy path, and {@code --quiet}.
 */
final class ImageOptions {
  @Option(names = "--overlap-strategy", paramLabel = "NAME",
      description = "Overlap check strategy (see 'qcow2 strategies'); default: windowed.")
  String strategy;

  @Option(names = "--overlap-check", paramLabel = "MODE",
      description = "Overlap check mode: none, constant, cached (default) or all.")
  String mode;

  @Option(names = "-O", paramLabel = "KEY=VALUE[,KEY=VALUE...]",
      description = "Open options, e.g. overlap-check.inactive-l2=on; repeatable.")
  List<String> openOptions = new ArrayList<>();

  @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
  boolean quiet;

  @Mixin StrategyPathOption strategyPath;

  /**
   * The open options: {@code -O} pairs in order, then {@code --overlap-strategy} and {@code
   * --overlap-check}, which must not contradict a {@code -O} pair.
   *
   * @throws IllegalArgumentException for a malformed pair or a contradiction
   */
  Map<String, String> options() {
    Map<String, String> options = new LinkedHashMap<>();
    for (String group : openOptions) {
      for (String pair : group.split(",", -1)) {
        int eq = pair.indexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException(
              "Invalid open option '" + pair + "': expected key=value");
        }
        options.put(pair.substring(0, eq), pair.substring(eq + 1));
      }
    }
    put(options, OverlapCheckers.STRATEGY_OPTION, strategy, "--overlap-strategy");
    put(options, OverlapCheckOptions.OVERLAP_CHECK, mode, "--overlap-check");
    return options;
  }

  private static void put(Map<String, String> options, String key, String value, String flag) {
    if (value == null) {
      return;
    }
    String previous = options.put(key, value);
    if (previous != null && !previous.equals(value)) {
      throw new IllegalArgumentException(String.format(
          "Conflicting values for '%s': %s=%s but -O %s=%s", key, flag, value, key, previous));
    }
  }

  /**
   * Checks the options as opening an image would, for commands that read the file without the
   * engine ({@code check}): known keys only, a known strategy, valid modes and strategy options.
   *
   * @throws IllegalArgumentException naming the bad option
   */
  Map<String, String> validatedWithoutOpening() {
    Map<String, String> options = options();
    Qcow2Image.validateOpenOptions(options);
    OverlapCheckers.create(options, OverlapCheckerSetup.MIN_CLUSTER_BITS, MetadataView.EMPTY);
    return options;
  }

  /** Opens {@code image} read-only with the options. */
  Qcow2Image open(Path image) throws IOException {
    return Qcow2Image.open(image, options(), false);
  }

  /** Opens {@code image} read-only with the options, without its backing chain (qemu-img info). */
  Qcow2Image openWithoutBacking(Path image) throws IOException {
    return Qcow2Image.openWithoutBacking(image, options());
  }

  /** Whether to draw a progress bar: on a terminal, unless {@code --quiet}. */
  boolean progress() {
    return !quiet && System.console() != null;
  }
}
