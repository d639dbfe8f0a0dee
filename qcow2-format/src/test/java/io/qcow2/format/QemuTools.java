package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs qemu-img and qemu-io for tests. When they are missing the calling test is skipped, or fails
 * when the environment variable {@code CI} is {@code true}: CI must never pass by skipping.
 *
 * <p>Two families: {@link #exec}, {@link #run} and {@link #io} keep stdout and stderr apart (and
 * {@code io} fails on any stderr); the {@code *Merged} methods, {@link #checkClean} and {@link
 * #readRaw} read them merged, as a terminal shows them, and skip the test themselves when qemu is
 * missing. Both drain the process so it cannot block on a full pipe.
 */
public final class QemuTools {
  private static final long TIMEOUT_SECONDS = 120;
  /** {@code -Dqemu-img=PATH} and {@code -Dqemu-io=PATH} override the programs found on the PATH. */
  private static final Map<String, String> PROGRAMS = Map.of(
      "qemu-img", System.getProperty("qemu-img", "qemu-img"),
      "qemu-io", System.getProperty("qemu-io", "qemu-io"));
  private static Boolean available;

  private QemuTools() {}

  /** What a finished process printed and returned. */
  public record Output(int exitCode, String stdout, String stderr) {}

  /** Skips (or, on CI, fails) the calling test unless qemu-img and qemu-io run. */
  public static synchronized void assumeAvailable() {
    if (available == null) {
      available = runs("qemu-img", "--version") && runs("qemu-io", "--version");
    }
    if (!available) {
      if ("true".equals(System.getenv("CI"))) {
        fail("qemu-img/qemu-io not found but CI=true: install qemu-utils");
      }
      Assumptions.abort("qemu-img/qemu-io not found; install qemu-utils to run this test");
    }
  }

  private static boolean runs(String... command) {
    try {
      return exec(command).exitCode() == 0;
    } catch (IOException e) {
      return false;
    }
  }

  /** Runs {@code command} and returns its output, whatever its exit status. */
  public static Output exec(String... command) throws IOException {
    return exec(false, command);
  }

  /**
   * Runs {@code command} with its stderr merged into its stdout, as a terminal shows them, and
   * returns the exit status and that text as {@code stdout} ({@code stderr} is empty). Skips (or, on
   * CI, fails) the calling test unless qemu-img and qemu-io run.
   */
  public static Output execMerged(String... command) throws IOException {
    assumeAvailable();
    return exec(true, command);
  }

  private static Output exec(boolean mergeStderr, String... command) throws IOException {
    List<String> program = new ArrayList<>(List.of(command));
    program.set(0, PROGRAMS.getOrDefault(command[0], command[0]));
    ProcessBuilder builder = new ProcessBuilder(program).redirectErrorStream(mergeStderr);
    Process process = builder.start();
    process.getOutputStream().close();
    CompletableFuture<String> stdout = drain(process.getInputStream());
    CompletableFuture<String> stderr = drain(process.getErrorStream());
    try {
      if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new IOException("timed out: " + String.join(" ", command));
      }
      return new Output(process.exitValue(), stdout.join(), stderr.join());
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + String.join(" ", command), e);
    }
  }

  private static CompletableFuture<String> drain(InputStream in) {
    return CompletableFuture.supplyAsync(() -> {
      try (in) {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "";
      }
    });
  }

  /** Runs {@code command}, failing the test unless it exits with 0; returns its stdout. */
  public static String run(String... command) throws IOException {
    Output output = exec(command);
    if (output.exitCode() != 0) {
      fail(String.join(" ", command) + " exited with " + output.exitCode() + ": "
          + output.stderr() + output.stdout());
    }
    return output.stdout();
  }

  /**
   * Runs {@code command} like {@link #execMerged}, failing the test unless it exits with 0; returns
   * its stdout and stderr merged.
   */
  public static String runMerged(String... command) throws IOException {
    Output output = execMerged(command);
    assertEquals(0, output.exitCode(), () -> String.join(" ", command) + " failed:\n" + output.stdout());
    return output.stdout();
  }

  /** {@code qemu-img create -f qcow2 -o OPTIONS IMAGE SIZE}; options may be empty. */
  public static Path create(Path image, String options, String size) throws IOException {
    List<String> command = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2"));
    if (!options.isEmpty()) {
      command.addAll(List.of("-o", options));
    }
    command.add(image.toString());
    command.add(size);
    run(command.toArray(String[]::new));
    return image;
  }

  /** Runs each qemu-io command (e.g. {@code "write -P 0xab 0 64k"}) on the image, in order. */
  public static void io(Path image, String... commands) throws IOException {
    List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
    for (String c : commands) {
      command.add("-c");
      command.add(c);
    }
    command.add(image.toString());
    Output output = exec(command.toArray(String[]::new));
    if (output.exitCode() != 0 || output.stdout().contains("error") || output.stderr().length() > 0) {
      fail("qemu-io " + Arrays.toString(commands) + " failed: " + output.stderr() + output.stdout());
    }
  }

  /**
   * Runs each qemu-io command on the image, in order, letting qemu-io probe the format; fails the
   * test unless qemu-io exits with 0 and its merged stdout and stderr mention neither "failed" nor
   * "error". Unlike {@link #io}, other text on stderr is accepted.
   */
  public static void ioMerged(Path image, String... commands) throws IOException {
    List<String> command = new ArrayList<>(List.of("qemu-io"));
    for (String c : commands) {
      command.add("-c");
      command.add(c);
    }
    command.add(image.toString());
    String out = runMerged(command.toArray(String[]::new));
    if (out.contains("failed") || out.contains("error")) {
      fail("qemu-io " + command + ":\n" + out);
    }
  }

  /** {@code qemu-img snapshot -c NAME IMAGE}. */
  public static void snapshot(Path image, String name) throws IOException {
    run("qemu-img", "snapshot", "-c", name, image.toString());
  }

  /** {@code qemu-img convert -O raw IMAGE OUT}. */
  public static Path convertToRaw(Path image, Path out) throws IOException {
    run("qemu-img", "convert", "-O", "raw", image.toString(), out.toString());
    return out;
  }

  /**
   * The guest content as {@code qemu-img convert -O raw} sees it; the raw file is written next to
   * the image and deleted.
   */
  public static byte[] readRaw(Path image) throws IOException {
    Path raw = image.resolveSibling(image.getFileName() + ".raw");
    runMerged("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString());
    byte[] data = Files.readAllBytes(raw);
    Files.delete(raw);
    return data;
  }

  /** {@code qemu-img check} must report a clean image: exit 0, no leaks, no errors. */
  public static void checkClean(Path image) throws IOException {
    Output output = execMerged("qemu-img", "check", image.toString());
    if (output.exitCode() != 0 || output.stdout().contains("leaked") || output.stdout().contains("ERROR")) {
      fail("qemu-img check " + image + " exit " + output.exitCode() + ":\n" + output.stdout());
    }
  }

  /** {@code qemu-img check --output=json}: the exit status and every integer field of the report. */
  public record QemuCheck(int exitCode, Map<String, Long> fields, String stderr) {
    public long get(String field) {
      return fields.getOrDefault(field, 0L);
    }
  }

  private static final Pattern JSON_LONG = Pattern.compile("\"([a-z-]+)\":\\s*(-?\\d+)");

  public static QemuCheck check(Path image) throws IOException {
    Output output = exec("qemu-img", "check", "-f", "qcow2", "--output=json", image.toString());
    Map<String, Long> fields = new TreeMap<>();
    Matcher m = JSON_LONG.matcher(output.stdout());
    while (m.find()) {
      fields.put(m.group(1), Long.parseLong(m.group(2)));
    }
    return new QemuCheck(output.exitCode(), fields, output.stderr());
  }

  /** Copies {@code image} to {@code copy}. */
  public static Path copy(Path image, Path copy) throws IOException {
    return Files.copy(image, copy);
  }
}
