package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.format.QemuTools;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the command line says when the image is not what it should be (issue 15, point 5): a
 * directory or a device, a backing file name with a NUL byte, a missing backing file.
 */
class OpenErrorsTest {
  @TempDir Path dir;

  @Test
  void aDirectoryIsNamedAsOne() {
    Cli.Result result = Cli.run("info", dir.toString());
    assertEquals(1, result.exitCode(), result.toString());
    assertEquals("qcow2: Could not open '" + dir + "': Is a directory\n", result.err());
  }

  @ParameterizedTest
  @ValueSource(strings = {"/dev/zero", "/dev/null"})
  void aDeviceIsNotARegularFile(String device) {
    for (String command : new String[] {"info", "check", "map"}) {
      Cli.Result result = Cli.run(command, device);
      assertEquals(1, result.exitCode(), result.toString());
      assertEquals("qcow2: Could not open '" + device + "': Not a regular file (a device or special "
          + "file); a qcow2 image is a regular file\n", result.err(), command);
    }
    Cli.Result io = Cli.run("io", device, "-c", "read 0 512");
    assertEquals(1, io.exitCode(), io.toString());
    assertTrue(io.err().contains("Not a regular file"), io.toString());
  }

  @Test
  void aMissingFileIsStillNoSuchFile() {
    Path missing = dir.resolve("missing.qcow2");
    Cli.Result result = Cli.run("info", missing.toString());
    assertEquals("qcow2: Could not open '" + missing + "': No such file or directory\n", result.err());
    assertFalse(Files.exists(missing));
  }

  @Test
  void aNulByteInTheBackingNameIsEscaped() throws IOException {
    QemuTools.assumeAvailable();
    Path base = QemuTools.create(dir.resolve("base.qcow2"), "", "1M");
    Path top = dir.resolve("top.qcow2");
    QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
        top.toString());
    try (RandomAccessFile file = new RandomAccessFile(top.toFile(), "rw")) {
      file.seek(8);
      long nameOffset = file.readLong();
      file.seek(nameOffset + 2);
      file.write(0);
    }
    Cli.Result result = Cli.run("io", top.toString(), "-c", "read 0 512");
    assertEquals(1, result.exitCode(), result.toString());
    assertTrue(result.err().contains("'ba\\x00e.qcow2'"), result.toString());
    assertFalse(result.err().contains("\0"), result.toString());
    assertTrue(Files.exists(base));
  }

  /** As {@code qemu-img info}: the image is described though its backing file is gone. */
  @Test
  void infoShowsAnImageWhoseBackingFileIsMissing() throws IOException {
    QemuTools.assumeAvailable();
    Path base = QemuTools.create(dir.resolve("base.qcow2"), "", "1M");
    Path top = dir.resolve("top.qcow2");
    QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
        top.toString());
    Files.delete(base);
    assertEquals(0, QemuTools.execMerged("qemu-img", "info", top.toString()).exitCode());

    Cli.Result result = Cli.run("info", top.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertTrue(result.out().contains("backing file: base.qcow2"), result.toString());
    Cli.Result json = Cli.run("info", "--output=json", top.toString());
    assertEquals(0, json.exitCode(), json.toString());
    assertTrue(json.out().contains("\"backing-filename\": \"base.qcow2\""), json.toString());
    // Opening for reads still needs the chain.
    Cli.Result read = Cli.run("io", top.toString(), "-c", "read 0 512");
    assertEquals(1, read.exitCode(), read.toString());
    assertTrue(read.err().contains("Could not open backing file"), read.toString());
  }
}
