package io.qcow2.overlap.tck;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * Builds a strategy jar the way an outside author would: sources compiled against the overlap-api
 * classes only, packaged with {@code META-INF/services} naming the providers. For tests of
 * strategy loading (the strategy path, the CLI, the runnable kit, the benchmarks).
 */
public final class StrategyJar {
  private StrategyJar() {}

  /**
   * Compiles {@code sources} (fully qualified class name to source text) and writes them to {@code
   * jar} with a services file listing {@code providers}.
   *
   * @throws IllegalStateException with the compiler's messages if the sources do not compile, or
   *     if this JVM has no compiler (a JRE)
   */
  public static Path build(Path jar, Map<String, String> sources, List<String> providers)
      throws IOException {
    JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
    if (compiler == null) {
      throw new IllegalStateException("no Java compiler in this JVM (" + System.getProperty(
          "java.home") + "): run with a JDK");
    }
    Path work = Files.createTempDirectory("strategy-jar");
    Path sourceDir = work.resolve("src");
    Path classes = work.resolve("classes");
    Files.createDirectories(classes);
    List<String> arguments = new ArrayList<>(List.of("-d", classes.toString(), "--release", "17",
        "-proc:none", "-classpath", apiLocation().toString()));
    for (Map.Entry<String, String> source : sources.entrySet()) {
      Path file = sourceDir.resolve(source.getKey().replace('.', '/') + ".java");
      Files.createDirectories(file.getParent());
      Files.writeString(file, source.getValue());
      arguments.add(file.toString());
    }
    StringWriter messages = new StringWriter();
    int status = compiler.run(null, null, new OutputStream() {
      @Override
      public void write(int b) {
        messages.write(b);
      }
    }, arguments.toArray(new String[0]));
    if (status != 0) {
      throw new IllegalStateException("strategy sources do not compile:\n" + messages);
    }
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
      out.putNextEntry(new JarEntry("META-INF/services/" + OverlapCheckerProvider.class.getName()));
      out.write((String.join("\n", providers) + "\n").getBytes(StandardCharsets.UTF_8));
      out.closeEntry();
      List<Path> files;
      try (Stream<Path> walk = Files.walk(classes)) {
        files = walk.filter(Files::isRegularFile).sorted().toList();
      }
      for (Path file : files) {
        out.putNextEntry(new JarEntry(classes.relativize(file).toString().replace('\\', '/')));
        out.write(Files.readAllBytes(file));
        out.closeEntry();
      }
    }
    return jar;
  }

  /** The jar or class directory overlap-api was loaded from: all a strategy compiles against. */
  static Path apiLocation() {
    try {
      return Path.of(OverlapChecker.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException("cannot locate the overlap-api classes", e);
    }
  }
}
