package io.qcow2.overlap;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Finds strategies by name. Never falls back to another strategy: an unknown name is an error that
 * lists the names found.
 *
 * <p>Strategies come from the class or module path and from the <em>strategy path</em>: every jar
 * in the directories the system property {@value #STRATEGY_PATH_PROPERTY} lists (separated by the
 * platform's path separator) is loaded and searched with {@link java.util.ServiceLoader}. The
 * providers are loaded once per strategy path and kept by name; setting the property to another
 * path reloads them on the next call.
 */
public final class OverlapCheckers {
  /** Open option naming the strategy. */
  public static final String STRATEGY_OPTION = "overlap-strategy";
  /** System property naming the strategy when the option is absent. */
  public static final String STRATEGY_PROPERTY = "qcow2.overlap-strategy";
  /** The strategy used when neither the option nor the property names one. */
  public static final String DEFAULT_STRATEGY = "windowed";
  /**
   * System property: directories (or jar files) whose jars hold more strategies, separated by
   * {@link java.io.File#pathSeparator}.
   */
  public static final String STRATEGY_PATH_PROPERTY = "qcow2.strategy-path";

  private static volatile StrategyRegistry registry;

  private OverlapCheckers() {}

  /** The names of all strategies on the class or module path and the strategy path, sorted. */
  public static Set<String> names() {
    return registry().byName.keySet();
  }

  /**
   * The provider named {@code name}.
   *
   * @throws IllegalArgumentException if none has that name; the message lists the names found
   */
  public static OverlapCheckerProvider load(String name) {
    return entry(name).provider();
  }

  /**
   * The jar or class directory the provider named {@code name} was loaded from; empty if the class
   * loader does not say.
   *
   * @throws IllegalArgumentException if no strategy has that name
   */
  public static Optional<Path> origin(String name) {
    return entry(name).origin();
  }

  /**
   * Whether the strategy named {@code name} was loaded from a jar of the strategy path rather than
   * found on the class or module path.
   *
   * @throws IllegalArgumentException if no strategy has that name
   */
  public static boolean isFromStrategyPath(String name) {
    return entry(name).loaded();
  }

  /**
   * The strategy name the options select: {@value #STRATEGY_OPTION}, else the system property
   * {@value #STRATEGY_PROPERTY}, else {@value #DEFAULT_STRATEGY}.
   */
  public static String selectedName(Map<String, String> options) {
    String name = options.get(STRATEGY_OPTION);
    if (name == null) {
      name = System.getProperty(STRATEGY_PROPERTY, DEFAULT_STRATEGY);
    }
    return name;
  }

  /**
   * Checks that every key of {@code options} is one the overlap checks read: {@value
   * #STRATEGY_OPTION}, the {@link OverlapCheckOptions} keys, or an option the selected strategy
   * declares ({@link OverlapCheckerProvider#options()}). Values are checked when the checker is
   * created.
   *
   * @throws IllegalArgumentException for an unknown strategy, or an unknown key; the message lists
   *     the keys accepted, the selected strategy's included
   */
  public static void checkOptionNames(Map<String, String> options) {
    Objects.requireNonNull(options, "options");
    String name = selectedName(options);
    List<StrategyOption> declared = load(name).options();
    for (String key : options.keySet()) {
      if (key.equals(STRATEGY_OPTION) || OverlapCheckOptions.isOverlapCheckKey(key)
          || declared.stream().anyMatch(option -> option.name().equals(key))) {
        continue;
      }
      List<String> names = new ArrayList<>();
      declared.forEach(option -> names.add(option.name()));
      throw new IllegalArgumentException(String.format(
          "Unknown qcow2 open option '%s'; allowed: %s, %s, %s.<type>, %s; strategy '%s' %s", key,
          OverlapCheckOptions.OVERLAP_CHECK, OverlapCheckOptions.TEMPLATE,
          OverlapCheckOptions.OVERLAP_CHECK, STRATEGY_OPTION, name,
          names.isEmpty() ? "accepts no options of its own" : "also accepts " + String.join(", ", names)));
    }
  }

  /**
   * The checker the options select for an image, or empty when they enable no type (mode {@code
   * none}): then no checker is built at all.
   *
   * @throws IllegalArgumentException for a bad overlap-check option or an unknown strategy
   */
  public static Optional<OverlapChecker> create(
      Map<String, String> options, int clusterBits, MetadataView view) {
    OverlapCheckerSetup setup = OverlapCheckerSetup.fromOptions(clusterBits, view, options);
    String name = selectedName(options);
    OverlapCheckerProvider provider = load(name);
    if (setup.enabledMask() == 0) {
      return Optional.empty();
    }
    return Optional.of(provider.create(setup));
  }

  private static StrategyRegistry.Entry entry(String name) {
    Objects.requireNonNull(name, "name");
    StrategyRegistry current = registry();
    StrategyRegistry.Entry entry = current.byName.get(name);
    if (entry == null) {
      throw new IllegalArgumentException(String.format(
          "Overlap strategy '%s' not found; available: %s%s", name,
          current.byName.isEmpty() ? "(none)" : String.join(", ", current.byName.keySet()),
          current.path.isEmpty() ? "" : " (strategy path " + current.path + ")"));
    }
    return entry;
  }

  /** The providers of the current strategy path, loaded when the path was last changed. */
  private static StrategyRegistry registry() {
    String path = System.getProperty(STRATEGY_PATH_PROPERTY, "");
    StrategyRegistry current = registry;
    if (current != null && current.path.equals(path)) {
      return current;
    }
    synchronized (OverlapCheckers.class) {
      current = registry;
      if (current == null || !current.path.equals(path)) {
        ClassLoader parent = Thread.currentThread().getContextClassLoader();
        current = StrategyRegistry.load(path,
            parent != null ? parent : OverlapCheckers.class.getClassLoader());
        registry = current;
      }
      return current;
    }
  }
}
