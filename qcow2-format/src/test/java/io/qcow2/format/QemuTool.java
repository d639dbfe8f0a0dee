package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs qemu-img and qemu-io. When they are missing, tests fail if the environment variable CI is
 * "true" and are skipped otherwise.
 */
final class QemuTool {
  static final String QEMU_IMG = System.getProperty("qemu-img", "/usr/bin/qemu-img");
  static final String QEMU_IO = System.getProperty("qemu-io", "/usr/bin/qemu-io");

  record Result(int exitCode, String out) {}

  private QemuTool() {}

  static void requireQemu() {
    boolean present = Files.isExecutable(Path.of(QEMU_IMG)) && Files.isExecutable(Path.of(QEMU_IO));
    if (!present) {
      if ("true".equals(System.getenv("CI"))) {
        fail("qemu-img/qemu-io not found at " + QEMU_IMG + ", " + QEMU_IO + " (required when CI=true)");
      }
      Assumptions.abort("qemu-img/qemu-io not installed");
    }
  }

  static Result run(String... command) throws IOException, InterruptedException {
    requireQemu();
    List<String> cmd = new ArrayList<>(List.of(command));
    if (cmd.get(0).equals("qemu-img")) {
      cmd.set(0, QEMU_IMG);
    } else if (cmd.get(0).equals("qemu-io")) {
      cmd.set(0, QEMU_IO);
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    Process p = pb.start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("timed out: " + cmd);
    }
    return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
  }

  /** Runs and asserts exit code 0. */
  static String ok(String... command) throws IOException, InterruptedException {
    Result r = run(command);
    assertEquals(0, r.exitCode(), () -> String.join(" ", command) + " failed:\n" + r.out());
    return r.out();
  }

  /** {@code qemu-img check} must report a clean image: exit 0, no leaks, no errors. */
  static void checkClean(Path image) throws IOException, InterruptedException {
    Result r = run("qemu-img", "check", image.toString());
    if (r.exitCode() != 0 || r.out().contains("leaked") || r.out().contains("ERROR")) {
      fail("qemu-img check " + image + " exit " + r.exitCode() + ":\n" + r.out());
    }
  }

  /** The guest content as {@code qemu-img convert -O raw} sees it. */
  static byte[] toRaw(Path image) throws IOException, InterruptedException {
    Path raw = image.resolveSibling(image.getFileName() + ".raw");
    ok("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString());
    byte[] data = Files.readAllBytes(raw);
    Files.delete(raw);
    return data;
  }

  static void qemuIo(Path image, String... commands) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-io"));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(image.toString());
    String out = ok(cmd.toArray(String[]::new));
    if (out.contains("failed") || out.contains("error")) {
      fail("qemu-io " + cmd + ":\n" + out);
    }
  }
}
