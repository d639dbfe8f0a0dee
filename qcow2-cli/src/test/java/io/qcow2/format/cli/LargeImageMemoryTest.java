package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code check} and {@code map} of a large image whose every L2 table and refcount block exists
 * ({@code preallocation=metadata}, 64 KiB clusters) stay in bounded memory (issue 15): each runs
 * in a fresh JVM with default flags and must peak under 256 MB resident ({@code VmHWM}), and
 * {@code map} with {@code -Xmx64m} must finish. The image is 1 TiB (128 MiB of L2 tables), 4 TiB
 * with {@code -Dqcow2.slow=true} (512 MiB), the size the issue measured.
 */
class LargeImageMemoryTest {
  private static final long MAX_RESIDENT_KB = 256 * 1024;

  @TempDir static Path dir;
  private static Path image;

  @BeforeAll
  static void createImage() throws IOException {
    Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "needs Linux /proc");
    long size = Boolean.getBoolean("qcow2.slow") ? 4L << 40 : 1L << 40;
    image = dir.resolve("large.qcow2");
    Qcow2Image.create(image, size, Map.of("preallocation", "metadata"), Map.of()).close();
  }

  @Test
  void checkStaysUnder256MbResidentWithDefaultFlags() throws Exception {
    Child child = run(List.of(), "check", image.toString());
    assertEquals(0, child.exitCode(), child.output());
    assertTrue(child.residentKb() < MAX_RESIDENT_KB, child.output());
  }

  @Test
  void mapStaysUnder256MbResidentWithDefaultFlags() throws Exception {
    Child child = run(List.of(), "map", image.toString());
    assertEquals(0, child.exitCode(), child.output());
    assertTrue(child.residentKb() < MAX_RESIDENT_KB, child.output());
  }

  @Test
  void mapFinishesIn64MbOfHeap() throws Exception {
    Child child = run(List.of("-Xmx64m"), "map", "--output=json", image.toString());
    assertEquals(0, child.exitCode(), child.output());
    assertTrue(!child.output().contains("OutOfMemoryError"), child.output());
  }

  /** What a child JVM printed (stderr), its exit status and its peak resident set. */
  record Child(int exitCode, long residentKb, String output) {}

  private static Child run(List<String> jvmFlags, String... args) throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmFlags);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(PeakResident.class.getName());
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    process.getOutputStream().close();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!process.waitFor(300, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError("timed out: " + command);
    }
    Matcher m = Pattern.compile("VmHWM:\\s*(\\d+) kB").matcher(output);
    long resident = m.find() ? Long.parseLong(m.group(1)) : Long.MAX_VALUE;
    return new Child(process.exitValue(), resident, String.join(" ", args) + " " + jvmFlags + ":\n" + output);
  }

  /**
   * Runs the command line with its standard output discarded, then prints this process's peak
   * resident set size ({@code VmHWM} of {@code /proc/self/status}).
   */
  public static final class PeakResident {
    private PeakResident() {}

    public static void main(String[] args) throws IOException {
      PrintWriter err = new PrintWriter(System.err, true);
      int status = Qcow2Command.execute(args, new PrintWriter(Writer.nullWriter()), err);
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          err.println(line);
        }
      }
      err.flush();
      System.exit(status);
    }
  }
}
