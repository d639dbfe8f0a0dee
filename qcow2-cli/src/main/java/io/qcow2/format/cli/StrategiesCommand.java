package io.qcow2.format.cli;

import io.qcow2.overlap.OverlapCheckers;
import io.qcow2.overlap.StrategyOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 strategies}: the overlap strategies found on the class path and the strategy path.
 * Plain output is one bare name per line and nothing else, for scripts; {@code --output=json}
 * gives each strategy's options and the jar it came from.
 */
@Command(name = "strategies", mixinStandardHelpOptions = true,
    description = "List the overlap check strategies found, one per line "
        + "(--output=json: with their options and origin).")
final class StrategiesCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin StrategyPathOption strategyPath;

  @Option(names = "--output", paramLabel = "FMT", defaultValue = "human",
      description = "human (one name per line) or json.")
  OutputFormat output;

  @Override
  public Integer call() {
    if (output == OutputFormat.json) {
      spec.commandLine().getOut().println(Json.render(describe()));
      return 0;
    }
    for (String name : OverlapCheckers.names()) {
      spec.commandLine().getOut().println(name);
    }
    return 0;
  }

  private static List<Map<String, Object>> describe() {
    List<Map<String, Object>> strategies = new ArrayList<>();
    for (String name : OverlapCheckers.names()) {
      Map<String, Object> strategy = new LinkedHashMap<>();
      strategy.put("name", name);
      strategy.put("origin", OverlapCheckers.origin(name).map(Path::toString).orElse(""));
      strategy.put("loaded", OverlapCheckers.isFromStrategyPath(name));
      strategy.put("selected-by-default", name.equals(OverlapCheckers.DEFAULT_STRATEGY));
      List<Map<String, Object>> options = new ArrayList<>();
      for (StrategyOption option : OverlapCheckers.load(name).options()) {
        Map<String, Object> described = new LinkedHashMap<>();
        described.put("name", option.name());
        described.put("allowed", option.allowed());
        described.put("default", option.defaultValue());
        described.put("description", option.description());
        options.add(described);
      }
      strategy.put("options", options);
      strategies.add(strategy);
    }
    return strategies;
  }
}
