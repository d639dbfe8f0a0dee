package io.qcow2.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs {@code qemu-img}, for W4's snapshots and the report's outside reference. */
final class QemuImg {
  private QemuImg() {}

  /** The qemu-img on the PATH, or null. */
  static Path find() {
    return find("qemu-img");
  }

  /** The QEMU tool {@code name} (qemu-img, qemu-io) on the PATH, or null. */
  static Path find(String name) {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String dir : path.split(java.io.File.pathSeparator)) {
      Path candidate = Path.of(dir, name);
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }

  /** The first line of {@code qemu-img --version}, or null when there is none. */
  static String version() {
    if (find() == null) {
      return null;
    }
    try {
      String out = run("--version");
      return out.lines().findFirst().orElse("qemu-img").strip();
    } catch (IOException | InterruptedException e) {
      return null;
    }
  }

  /**
   * Runs qemu-img with {@code args} and returns its output.
   *
   * @throws IOException if it is missing or exits non-zero (with its output in the message)
   */
  static String run(String... args) throws IOException, InterruptedException {
    return runTool("qemu-img", args);
  }

  /** Runs the QEMU tool {@code name} (qemu-img, qemu-io) as {@link #run} runs qemu-img. */
  static String runTool(String name, String... args) throws IOException, InterruptedException {
    Path qemuImg = find(name);
    if (qemuImg == null) {
      throw new IOException(name + " not found on the PATH");
    }
    List<String> command = new ArrayList<>();
    command.add(qemuImg.toString());
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int status = process.waitFor();
    if (status != 0) {
      throw new IOException(String.join(" ", command) + " exited " + status + ": " + out.strip());
    }
    return out;
  }
}
