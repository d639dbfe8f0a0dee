package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Objects;

/**
 * Strategy {@value #NAME}: the strategy named by {@link #select} with every call timed by {@link
 * ProbeChecker}. It is not registered in the jar's {@code META-INF/services} (it is no strategy a
 * user could pick, and must not appear in {@link OverlapCheckers#names()}); {@link #select} makes
 * it visible to the calling thread only, through a context class loader that adds one services
 * entry, because the engine finds its checker by name through {@code ServiceLoader}. Public only
 * because {@code ServiceLoader} instantiates it.
 */
public final class ProbeProvider implements OverlapCheckerProvider {
  static final String NAME = "bench-probe";
  private static final String SERVICES =
      "META-INF/services/" + OverlapCheckerProvider.class.getName();

  private static volatile String target;
  private static ClassLoader loader;

  public ProbeProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    String name = Objects.requireNonNull(target, "ProbeProvider.select was not called");
    return new ProbeChecker(setup, OverlapCheckers.load(name).create(setup));
  }

  /**
   * Makes {@value #NAME} findable from the calling thread and wrap strategy {@code strategy};
   * returns the name to open images with.
   *
   * @throws IllegalArgumentException if no strategy is named {@code strategy}
   */
  static synchronized String select(String strategy) {
    OverlapCheckers.load(strategy); // fails fast with the list of names
    target = strategy;
    if (loader == null) {
      loader = new WithProbe(ProbeProvider.class.getClassLoader());
    }
    Thread.currentThread().setContextClassLoader(loader);
    return NAME;
  }

  /** A class loader that lists {@link ProbeProvider} as one more provider. */
  private static final class WithProbe extends ClassLoader {
    private final URL entry;

    WithProbe(ClassLoader parent) {
      super(parent);
      try {
        Path file = Files.createTempFile("bench-probe", ".services");
        file.toFile().deleteOnExit();
        Files.writeString(file, ProbeProvider.class.getName() + "\n");
        entry = file.toUri().toURL();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public Enumeration<URL> getResources(String name) throws IOException {
      Enumeration<URL> found = super.getResources(name);
      if (!name.equals(SERVICES)) {
        return found;
      }
      List<URL> all = new ArrayList<>(Collections.list(found));
      all.add(entry);
      return Collections.enumeration(all);
    }
  }
}
