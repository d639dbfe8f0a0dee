package io.qcow2.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where the macro workloads put their image files: tmpfs, as the series did, when there is one. */
final class Scratch {
  private Scratch() {}

  /** A new directory under {@code /dev/shm} when writable, else under {@code java.io.tmpdir}. */
  static Path newDirectory() throws IOException {
    Path shm = Path.of("/dev/shm");
    Path parent = Files.isDirectory(shm) && Files.isWritable(shm)
        ? shm : Path.of(System.getProperty("java.io.tmpdir"));
    return Files.createTempDirectory(parent, "qcow2-bench-");
  }

  /** Deletes {@code dir} and the files directly in it. */
  static void delete(Path dir) throws IOException {
    try (var files = Files.list(dir)) {
      for (Path p : files.toList()) {
        Files.deleteIfExists(p);
      }
    }
    Files.deleteIfExists(dir);
  }
}
