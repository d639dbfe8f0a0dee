package io.qcow2.format.cli;

import io.qcow2.overlap.OverlapCheckers;
import java.io.File;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * {@code --strategy-path DIR}: more directories (or jars) to load strategies from, before those of
 * the system property {@value OverlapCheckers#STRATEGY_PATH_PROPERTY}. It sets that property, which
 * the engine reads; {@link Qcow2Command#execute} restores it when the command ends.
 */
final class StrategyPathOption {
  /** The property as it was when the command line was built, i.e. before this option set it. */
  private final String inherited = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);

  @Option(names = "--strategy-path", paramLabel = "DIR",
      description = "Load every strategy jar in DIR (a directory or a jar; repeatable, or a list "
          + "separated as the class path is), as -Dqcow2.strategy-path does.")
  void set(List<String> entries) {
    String path = String.join(File.pathSeparator, entries);
    System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY,
        inherited == null || inherited.isEmpty() ? path : path + File.pathSeparator + inherited);
  }
}
