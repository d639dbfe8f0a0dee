package io.qcow2.overlap.tck;

import io.qcow2.overlap.OverlapCheckerProvider;
import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/**
 * Checks that a strategy module declares its providers the same way for the module path ({@code
 * provides} in {@code module-info.java}) and the class path ({@code META-INF/services}): a provider
 * missing from either is found on one path and silently absent on the other.
 */
public final class ServiceDeclarations {
  private static final String SERVICE = OverlapCheckerProvider.class.getName();

  private ServiceDeclarations() {}

  /**
   * Asserts that {@code classesDir} (e.g. {@code target/classes}) declares at least one {@link
   * OverlapCheckerProvider}, the same set in {@code module-info.class} and in {@code
   * META-INF/services}, and that each provider's class file is there.
   *
   * @throws AssertionError describing the difference
   */
  public static void assertAgree(Path classesDir) throws IOException {
    Path moduleInfo = classesDir.resolve("module-info.class");
    Path services = classesDir.resolve("META-INF/services/" + SERVICE);
    if (!Files.isRegularFile(moduleInfo)) {
      throw new AssertionError("no module-info.class in " + classesDir);
    }
    if (!Files.isRegularFile(services)) {
      throw new AssertionError("no " + services);
    }
    ModuleDescriptor descriptor;
    try (InputStream in = Files.newInputStream(moduleInfo)) {
      descriptor = ModuleDescriptor.read(in);
    }
    Set<String> declared = new TreeSet<>();
    for (ModuleDescriptor.Provides provides : descriptor.provides()) {
      if (provides.service().equals(SERVICE)) {
        declared.addAll(provides.providers());
      }
    }
    Set<String> listed = new TreeSet<>();
    for (String line : Files.readAllLines(services, StandardCharsets.UTF_8)) {
      int comment = line.indexOf('#');
      String name = (comment >= 0 ? line.substring(0, comment) : line).trim();
      if (!name.isEmpty()) {
        listed.add(name);
      }
    }
    if (!declared.equals(listed)) {
      throw new AssertionError(String.format(
          "module %s provides %s with %s, but %s lists %s",
          descriptor.name(), SERVICE, declared, services.getFileName(), listed));
    }
    if (declared.isEmpty()) {
      throw new AssertionError("module " + descriptor.name() + " provides no " + SERVICE);
    }
    for (String provider : declared) {
      if (!Files.isRegularFile(classesDir.resolve(provider.replace('.', '/') + ".class"))) {
        throw new AssertionError("provider class " + provider + " is not in " + classesDir);
      }
    }
  }
}
