package io.qcow2.format.cli;

import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 io IMAGE -c 'CMD' [-c 'CMD' ...]}: guest reads and writes, a subset of {@code
 * qemu-io}: {@code write [-P pattern] [-c] [-z [-u]] OFFSET LENGTH}, {@code read [-P pattern] OFFSET
 * LENGTH}, {@code discard OFFSET LENGTH}. Each command prints what qemu-io prints, without the
 * timing line. Zero writes always unmap whole clusters: {@code -z} does what qemu-io's {@code -z
 * -u} does, and {@code -u} is accepted with {@code -z}.
 *
 * <p>A failed pattern verification is reported and the next commands still run, as in qemu-io; the
 * exit status is then 1. Any other error (unknown command, bad argument, an overlap check refusing a
 * write) stops at that command with exit status 1.
 */
@Command(name = "io", mixinStandardHelpOptions = true,
    description = "Read, write and discard guest data (a qemu-io subset).")
final class IoCommand implements Callable<Integer> {
  /** qemu-io's default write pattern. */
  static final int DEFAULT_PATTERN = 0xcd;
  private static final int CHUNK = 1 << 20;
  private static final List<String> COMMANDS = List.of("discard", "read", "write");

  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Parameters(index = "0", paramLabel = "IMAGE") Path image;

  @Option(names = "-c", required = true, paramLabel = "CMD",
      description = "A command: 'write [-P pattern] [-c] [-z [-u]] OFFSET LENGTH', "
          + "'read [-P pattern] OFFSET LENGTH', 'discard OFFSET LENGTH'; repeatable, run in order.")
  List<String> commands = new ArrayList<>();

  @Option(names = {"-r", "--read-only"}, description = "Open the image read-only.")
  boolean readOnly;

  @Override
  public Integer call() throws IOException {
    List<IoRequest> requests = new ArrayList<>();
    for (String command : commands) {
      requests.add(IoRequest.parse(command)); // all-or-nothing: no command runs after a typo
    }
    PrintWriter out = spec.commandLine().getOut();
    boolean verified = true;
    try (Qcow2Image opened = Qcow2Image.open(image, imageOptions.options(), !readOnly)) {
      for (IoRequest request : requests) {
        verified &= run(opened, request, out);
        out.flush();
      }
    }
    return verified ? 0 : Qcow2Command.EXIT_ERROR;
  }

  /** Runs one request; false if a read's pattern verification failed. */
  private static boolean run(Qcow2Image image, IoRequest r, PrintWriter out) throws IOException {
    switch (r.name()) {
      case "write":
        if (r.zero()) {
          image.writeZeroes(r.offset(), r.length());
        } else if (r.compressed()) {
          writeCompressedPattern(image, r.offset(), r.length(), (byte) r.pattern());
        } else {
          writePattern(image, r.offset(), r.length(), (byte) r.pattern());
        }
        out.printf(Locale.ROOT, "wrote %d/%d bytes at offset %d%n", r.length(), r.length(), r.offset());
        return true;
      case "discard":
        image.discard(r.offset(), r.length());
        out.printf(Locale.ROOT, "discard %d/%d bytes at offset %d%n", r.length(), r.length(), r.offset());
        return true;
      default:
        boolean ok = read(image, r, out);
        out.printf(Locale.ROOT, "read %d/%d bytes at offset %d%n", r.length(), r.length(), r.offset());
        return ok;
    }
  }

  private static void writePattern(Qcow2Image image, long offset, long length, byte pattern)
      throws IOException {
    checkRange(image, offset, length);
    byte[] buffer = new byte[(int) Math.min(CHUNK, length)];
    Arrays.fill(buffer, pattern);
    for (long done = 0; done < length; ) {
      int n = (int) Math.min(buffer.length, length - done);
      image.write(offset + done, buffer, 0, n);
      done += n;
    }
  }

  /** {@code write -c}: whole clusters, compressed, in pieces of whole clusters. */
  private static void writeCompressedPattern(Qcow2Image image, long offset, long length,
      byte pattern) throws IOException {
    checkRange(image, offset, length);
    int piece = Math.max(image.clusterSize(), CHUNK);
    byte[] buffer = new byte[(int) Math.min(piece, length)];
    Arrays.fill(buffer, pattern);
    for (long done = 0; done < length; ) {
      int n = (int) Math.min(buffer.length, length - done);
      image.writeCompressed(offset + done, buffer, 0, n);
      done += n;
    }
  }

  /** Reads the range; with a pattern, reports the first mismatch as qemu-io does, and where. */
  private static boolean read(Qcow2Image image, IoRequest r, PrintWriter out) throws IOException {
    checkRange(image, r.offset(), r.length());
    byte[] buffer = new byte[(int) Math.min(CHUNK, r.length())];
    for (long done = 0; done < r.length(); ) {
      int n = (int) Math.min(buffer.length, r.length() - done);
      image.read(r.offset() + done, buffer, 0, n);
      if (r.pattern() >= 0) {
        for (int i = 0; i < n; i++) {
          if ((buffer[i] & 0xff) != r.pattern()) {
            // qemu-io names the request, not the byte; the second line says which byte.
            out.printf(Locale.ROOT, "Pattern verification failed at offset %d, %d bytes%n",
                r.offset(), r.length());
            out.printf(Locale.ROOT, "First mismatch at offset %d: expected 0x%02x, read 0x%02x%n",
                r.offset() + done + i, r.pattern(), buffer[i] & 0xff);
            return false;
          }
        }
      }
      done += n;
    }
    return true;
  }

  private static void checkRange(Qcow2Image image, long offset, long length) {
    if (offset > image.virtualSize() || length > image.virtualSize() - offset) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "Range [%d, +%d) is outside the image's virtual size %d",
          offset, length, image.virtualSize()));
    }
  }

  /**
   * One parsed {@code -c} command.
   *
   * @param pattern the byte to write or verify, -1 for none (reads)
   */
  record IoRequest(String name, long offset, long length, int pattern, boolean zero,
      boolean compressed) {
    /**
     * Parses {@code NAME [-P pattern] [-z] [-c] OFFSET LENGTH}.
     *
     * @throws IllegalArgumentException naming the command and what is wrong with it
     */
    static IoRequest parse(String command) {
      String[] words = command.strip().split("\\s+");
      String name = words[0];
      if (!COMMANDS.contains(name)) {
        throw new IllegalArgumentException(String.format(
            "Unknown io command '%s'; allowed: %s", name, String.join(", ", COMMANDS)));
      }
      int pattern = -1;
      boolean zero = false;
      boolean unmap = false;
      boolean compressed = false;
      List<String> arguments = new ArrayList<>();
      for (int i = 1; i < words.length; i++) {
        String word = words[i];
        if (word.equals("-P") && !name.equals("discard")) {
          if (++i == words.length) {
            throw new IllegalArgumentException(name + ": option -P needs a pattern byte");
          }
          pattern = patternByte(name, words[i]);
        } else if (word.equals("-z") && name.equals("write")) {
          zero = true;
        } else if (word.equals("-c") && name.equals("write")) {
          compressed = true;
        } else if (word.equals("-u") && name.equals("write")) {
          unmap = true;
        } else if (word.startsWith("-") && word.length() > 1) {
          throw new IllegalArgumentException(String.format(
              "%s: unknown option '%s'; usage: %s", name, word, usage(name)));
        } else {
          arguments.add(word);
        }
      }
      if (arguments.size() != 2) {
        throw new IllegalArgumentException(String.format(
            "%s: expected OFFSET and LENGTH, got %d argument(s) in '%s'; usage: %s",
            name, arguments.size(), command.strip(), usage(name)));
      }
      if (unmap && !zero) {
        throw new IllegalArgumentException("write: -u requires -z");
      }
      if (zero && compressed) {
        throw new IllegalArgumentException("write: -c and -z cannot be specified at the same time");
      }
      if (zero && pattern >= 0) {
        throw new IllegalArgumentException("write: -P and -z cannot be specified at the same time");
      }
      if (name.equals("write") && !zero && pattern < 0) {
        pattern = DEFAULT_PATTERN;
      }
      long offset = SizeArgument.parse(name + " offset", arguments.get(0));
      long length = SizeArgument.parse(name + " length", arguments.get(1));
      return new IoRequest(name, offset, length, pattern, zero, compressed);
    }

    private static int patternByte(String name, String text) {
      try {
        int value = text.startsWith("0x") || text.startsWith("0X")
            ? Integer.parseInt(text.substring(2), 16) : Integer.parseInt(text);
        if (value >= 0 && value <= 0xff) {
          return value;
        }
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new IllegalArgumentException(String.format(
          "%s: '%s' is not a valid pattern byte (0 to 255, or 0x00 to 0xff)", name, text));
    }

    private static String usage(String name) {
      switch (name) {
        case "write": return "write [-P pattern] [-c] [-z [-u]] OFFSET LENGTH";
        case "read": return "read [-P pattern] OFFSET LENGTH";
        default: return "discard OFFSET LENGTH";
      }
    }
  }
}
