package io.qcow2.overlap;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.MalformedURLException;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The providers found for one strategy path: those on the class or module path, plus those in every
 * jar of the path's directories, loaded once by {@link ServiceLoader} and kept by name.
 */
final class StrategyRegistry {
  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]*");
  private static final String SERVICES_FILE =
      "META-INF/services/" + OverlapCheckerProvider.class.getName();

  /** One provider and where its class came from. */
  record Entry(OverlapCheckerProvider provider, Optional<Path> origin, boolean loaded) {
    String describe() {
      return provider.getClass().getName() + " (" + origin.map(Path::toString).orElse("unknown origin")
          + ")";
    }
  }

  /** The strategy path this registry was loaded for, as the property gave it ("" if unset). */
  final String path;
  final SortedMap<String, Entry> byName;

  private StrategyRegistry(String path, SortedMap<String, Entry> byName) {
    this.path = path;
    this.byName = Collections.unmodifiableSortedMap(byName);
  }

  /**
   * Loads the providers visible from {@code parent} plus those of the jars on {@code path}.
   *
   * @throws IllegalArgumentException if a path entry is neither a directory nor a jar, a jar cannot
   *     be read, two jars hold the same provider class, a provider has an invalid name, or two
   *     providers share a name; the message names the jars
   */
  static StrategyRegistry load(String path, ClassLoader parent) {
    List<Path> jars = jars(path);
    checkNoProviderClassInTwoJars(jars);
    ClassLoader loader = parent;
    if (!jars.isEmpty()) {
      URL[] urls = new URL[jars.size()];
      for (int i = 0; i < urls.length; i++) {
        try {
          urls[i] = jars.get(i).toUri().toURL();
        } catch (MalformedURLException e) {
          throw new IllegalArgumentException("Strategy jar " + jars.get(i) + ": " + e.getMessage(), e);
        }
      }
      // Never closed: checkers made by these providers may outlive a change of the path.
      loader = new URLClassLoader("qcow2-strategy-path", urls, parent);
    }
    SortedMap<String, Entry> byName = new TreeMap<>();
    try {
      for (OverlapCheckerProvider provider : ServiceLoader.load(OverlapCheckerProvider.class, loader)) {
        Entry entry = new Entry(provider, origin(provider.getClass()),
            !jars.isEmpty() && provider.getClass().getClassLoader() == loader);
        String name = provider.name();
        if (name == null || !NAME.matcher(name).matches()) {
          throw new IllegalArgumentException(String.format(
              "Overlap strategy %s has invalid name '%s' (must match %s)",
              entry.describe(), name, NAME.pattern()));
        }
        Entry previous = byName.putIfAbsent(name, entry);
        if (previous != null && previous.provider().getClass() != provider.getClass()) {
          throw new IllegalArgumentException(String.format(
              "Overlap strategy name '%s' is claimed by both %s and %s", name,
              previous.describe(), entry.describe()));
        }
      }
    } catch (ServiceConfigurationError e) {
      throw new IllegalArgumentException("Cannot load the overlap strategies"
          + (jars.isEmpty() ? "" : " (strategy path " + path + ")") + ": " + e.getMessage(), e);
    }
    return new StrategyRegistry(path, byName);
  }

  /** Every jar of the path: a directory's {@code *.jar} files in name order, or a jar named directly. */
  static List<Path> jars(String path) {
    List<Path> jars = new ArrayList<>();
    for (String item : path.split(Pattern.quote(File.pathSeparator))) {
      if (item.isBlank()) {
        continue;
      }
      Path entry = Path.of(item);
      if (Files.isDirectory(entry)) {
        try (Stream<Path> files = Files.list(entry)) {
          files.filter(f -> f.getFileName().toString().endsWith(".jar") && Files.isRegularFile(f))
              .sorted()
              .forEach(jars::add);
        } catch (IOException e) {
          throw new IllegalArgumentException(
              "Cannot list strategy path directory " + entry + ": " + e, e);
        }
      } else if (Files.isRegularFile(entry) && item.endsWith(".jar")) {
        jars.add(entry);
      } else {
        throw new IllegalArgumentException(String.format(
            "Strategy path entry '%s' is neither a directory nor a jar file", item));
      }
    }
    return jars;
  }

  /**
   * Two versions of one strategy jar in the path would otherwise load silently from whichever comes
   * first; name both instead.
   */
  private static void checkNoProviderClassInTwoJars(List<Path> jars) {
    Map<String, Path> jarByClass = new HashMap<>();
    for (Path jar : jars) {
      for (String provider : declaredProviders(jar)) {
        Path previous = jarByClass.putIfAbsent(provider, jar);
        if (previous != null && !previous.equals(jar)) {
          throw new IllegalArgumentException(String.format(
              "Overlap strategy provider %s is in both %s and %s", provider, previous, jar));
        }
      }
    }
  }

  private static List<String> declaredProviders(Path jar) {
    try (JarFile file = new JarFile(jar.toFile())) {
      JarEntry services = file.getJarEntry(SERVICES_FILE);
      if (services == null) {
        return List.of();
      }
      List<String> providers = new ArrayList<>();
      try (InputStream in = file.getInputStream(services)) {
        for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
          int comment = line.indexOf('#');
          String name = (comment >= 0 ? line.substring(0, comment) : line).trim();
          if (!name.isEmpty()) {
            providers.add(name);
          }
        }
      }
      return providers;
    } catch (IOException e) {
      throw new IllegalArgumentException("Cannot read strategy jar " + jar + ": " + e, e);
    }
  }

  private static Optional<Path> origin(Class<?> type) {
    CodeSource source = type.getProtectionDomain().getCodeSource();
    if (source == null || source.getLocation() == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(Path.of(source.getLocation().toURI()));
    } catch (URISyntaxException | IllegalArgumentException e) {
      return Optional.empty();
    }
  }
}
