package io.qcow2.overlap;

import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Finds strategies by name. Never falls back to another strategy: an unknown name is an error that
 * lists the names found.
 */
public final class OverlapCheckers {
  /** Open option naming the strategy. */
  public static final String STRATEGY_OPTION = "overlap-strategy";
  /** System property naming the strategy when the option is absent. */
  public static final String STRATEGY_PROPERTY = "qcow2.overlap-strategy";
  /** The strategy used when neither the option nor the property names one. */
  public static final String DEFAULT_STRATEGY = "windowed";

  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]*");

  private OverlapCheckers() {}

  /** The names of all strategies on the class or module path, sorted. */
  public static Set<String> names() {
    return providers().keySet();
  }

  /**
   * The provider named {@code name}.
   *
   * @throws IllegalArgumentException if none has that name; the message lists the names found
   */
  public static OverlapCheckerProvider load(String name) {
    Objects.requireNonNull(name, "name");
    Map<String, OverlapCheckerProvider> providers = providers();
    OverlapCheckerProvider provider = providers.get(name);
    if (provider == null) {
      throw new IllegalArgumentException(String.format(
          "Overlap strategy '%s' not found; available: %s", name,
          providers.isEmpty() ? "(none)" : String.join(", ", providers.keySet())));
    }
    return provider;
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

  private static Map<String, OverlapCheckerProvider> providers() {
    Map<String, OverlapCheckerProvider> byName = new TreeMap<>();
    for (OverlapCheckerProvider provider : ServiceLoader.load(OverlapCheckerProvider.class)) {
      String name = provider.name();
      if (name == null || !NAME.matcher(name).matches()) {
        throw new IllegalStateException(String.format(
            "Overlap strategy %s has invalid name '%s' (must match %s)",
            provider.getClass().getName(), name, NAME.pattern()));
      }
      OverlapCheckerProvider previous = byName.putIfAbsent(name, provider);
      if (previous != null && previous.getClass() != provider.getClass()) {
        throw new IllegalStateException(String.format(
            "Overlap strategy name '%s' is claimed by both %s and %s", name,
            previous.getClass().getName(), provider.getClass().getName()));
      }
    }
    return byName;
  }
}
