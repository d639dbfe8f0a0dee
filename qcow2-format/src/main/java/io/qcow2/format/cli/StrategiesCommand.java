package io.qcow2.format.cli;

import io.qcow2.overlap.OverlapCheckers;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code qcow2 strategies}: the overlap strategies on the class path, one per line. */
@Command(name = "strategies", mixinStandardHelpOptions = true,
    description = "List the overlap check strategies found, one per line.")
final class StrategiesCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    for (String name : OverlapCheckers.names()) {
      spec.commandLine().getOut().println(name);
    }
    return 0;
  }
}
