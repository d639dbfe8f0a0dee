package io.qcow2.format.cli;

import io.qcow2.overlap.OverlapCheckers;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 COMMAND [OPTIONS] ARGS}: the command line of the qcow2 engine, modelled on {@code
 * qemu-img}. Errors print {@code qcow2: <message>} on standard error and exit with 1 ({@code check}
 * uses qemu-img's exit statuses).
 */
@Command(
    name = "qcow2",
    mixinStandardHelpOptions = true,
    version = "qcow2 0.1.0",
    description = "Inspect, check, map and convert qcow2 images.",
    subcommands = {
      StrategiesCommand.class,
      InfoCommand.class, CreateCommand.class, IoCommand.class, ResizeCommand.class,
      CheckCommand.class,
      MapCommand.class,
      MetadataCommand.class,
      ConvertCommand.class,
      CompareCommand.class,
      SnapshotCommand.class,
      ServeCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Qcow2Command implements Runnable {
  /** Exit status for every error but {@code check}'s findings, as qemu-img. */
  static final int EXIT_ERROR = 1;

  private static final Pattern FILE_NOT_FOUND = Pattern.compile("(.*) \\((.*)\\)");

  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(), "missing command; try 'qcow2 --help'");
  }

  /** Runs the command line and exits with its status. */
  public static void main(String[] args) {
    PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
    PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8));
    int status = execute(args, out, err);
    out.flush();
    err.flush();
    System.exit(status);
  }

  /** Runs the command line with the given streams and returns its exit status; never exits. */
  public static int execute(String[] args, PrintWriter out, PrintWriter err) {
    CommandLine commandLine = new CommandLine(new Qcow2Command());
    commandLine.setOut(out);
    commandLine.setErr(err);
    commandLine.setCaseInsensitiveEnumValuesAllowed(true);
    commandLine.setParameterExceptionHandler((e, arguments) -> {
      err.println("qcow2: " + e.getMessage());
      err.flush();
      return EXIT_ERROR;
    });
    commandLine.setExecutionExceptionHandler((e, line, parseResult) -> {
      err.println("qcow2: " + message(e));
      if (!(e instanceof IOException) && !(e instanceof IllegalArgumentException)) {
        e.printStackTrace(err); // a bug, not a bad image or option: keep the trace
      }
      err.flush();
      return EXIT_ERROR;
    });
    // --strategy-path sets the engine's system property for this command only.
    String strategyPath = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    try {
      return commandLine.execute(args);
    } finally {
      if (strategyPath == null) {
        System.clearProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
      } else {
        System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, strategyPath);
      }
      out.flush();
      err.flush();
    }
  }

  /** The user-facing message of an error: file system errors in qemu-img's words. */
  static String message(Throwable e) {
    if (e instanceof NoSuchFileException f) {
      return "Could not open '" + f.getFile() + "': No such file or directory";
    }
    if (e instanceof AccessDeniedException f) {
      return "Could not open '" + f.getFile() + "': Permission denied";
    }
    if (e instanceof FileSystemException f && f.getReason() != null) {
      return "Could not open '" + f.getFile() + "': " + f.getReason();
    }
    if (e instanceof FileNotFoundException && e.getMessage() != null) {
      // RandomAccessFile says "PATH (REASON)".
      Matcher m = FILE_NOT_FOUND.matcher(e.getMessage());
      if (m.matches()) {
        return "Could not open '" + m.group(1) + "': " + m.group(2);
      }
    }
    if (e instanceof IOException || e instanceof IllegalArgumentException) {
      return String.valueOf(e.getMessage());
    }
    return "internal error: " + e;
  }
}
