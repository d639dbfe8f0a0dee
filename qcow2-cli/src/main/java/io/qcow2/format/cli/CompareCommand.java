package io.qcow2.format.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 compare [-f FMT] [-F FMT] [-s] [-p] [-q] IMG1 IMG2}: whether two images have the same
 * guest contents, with {@code qemu-img compare}'s messages and exit statuses (0 identical, 1
 * different, 2 an image could not be opened, 3 a block status failed, 4 a read failed).
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
    description = "Compare the guest contents of two images (qcow2 or raw).")
final class CompareCommand implements Callable<Integer> {
  static final int IDENTICAL = 0;
  static final int DIFFERENT = 1;
  static final int OPEN_ERROR = 2;
  static final int STATUS_ERROR = 3;
  static final int READ_ERROR = 4;

  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Option(names = "-f", paramLabel = "FMT", description = "Format of IMG1: qcow2 or raw (default: probed).")
  String format1;

  @Option(names = "-F", paramLabel = "FMT", description = "Format of IMG2: qcow2 or raw (default: probed).")
  String format2;

  @Option(names = "-s", description = "Strict: images of different sizes or block status differ.")
  boolean strict;

  @Option(names = "-p", description = "Show a progress bar.")
  boolean progress;

  @Parameters(index = "0", paramLabel = "IMG1") Path image1;
  @Parameters(index = "1", paramLabel = "IMG2") Path image2;

  @Override
  public Integer call() throws IOException {
    PrintWriter err = spec.commandLine().getErr();
    SourceImage first;
    try {
      first = SourceImage.open(image1, format1, imageOptions);
    } catch (IOException | IllegalArgumentException e) {
      err.println("qcow2: " + Qcow2Command.message(e));
      return OPEN_ERROR;
    }
    try (SourceImage one = first) {
      SourceImage second;
      try {
        second = SourceImage.open(image2, format2, imageOptions);
      } catch (IOException | IllegalArgumentException e) {
        err.println("qcow2: " + Qcow2Command.message(e));
        return OPEN_ERROR;
      }
      try (SourceImage two = second) {
        ImageComparison comparison = new ImageComparison(one, two, strict,
            new Progress(err, progress && !imageOptions.quiet, Math.max(one.size(), two.size())));
        ImageComparison.Outcome outcome = comparison.run();
        if (!imageOptions.quiet && outcome.stdout() != null) {
          spec.commandLine().getOut().print(outcome.stdout());
        }
        if (outcome.stderr() != null) {
          err.println("qcow2: " + outcome.stderr());
        }
        return outcome.exitCode();
      }
    }
  }
}
