package io.qcow2.format.cli;

import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code qcow2 resize [--shrink] IMAGE [+|-]SIZE}: sets the virtual size to {@code SIZE}, or
 * changes it by {@code +SIZE} or {@code -SIZE}, as {@code qemu-img resize}. A smaller size needs
 * {@code --shrink} (the confirmation that the data past the new end goes), as in qemu-img.
 */
@Command(name = "resize", mixinStandardHelpOptions = true,
    description = "Grow or (with --shrink) shrink an image's virtual size (SIZE, +SIZE or -SIZE).")
final class ResizeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Parameters(index = "0", paramLabel = "IMAGE") Path image;

  @Parameters(index = "1", arity = "0..1", paramLabel = "[+|-]SIZE",
      description = "New size, or +SIZE / -SIZE to grow / shrink by SIZE (k, M, G, T suffixes).")
  String size;

  @Option(names = "--shrink",
      description = "Allow a smaller size: the data past the new end is dropped.")
  boolean shrink;

  /** Where picocli puts {@code -SIZE}, which looks like an option. */
  @Unmatched List<String> unmatched = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    if (size == null && unmatched.size() == 1) {
      size = unmatched.get(0);
    } else if (size == null || !unmatched.isEmpty()) {
      throw new ParameterException(spec.commandLine(), size == null
          ? "Missing required parameter: '[+|-]SIZE'" : "Unknown arguments: " + unmatched);
    }
    boolean relative = size.startsWith("+") || size.startsWith("-");
    long bytes = SizeArgument.parse("size", relative ? size.substring(1) : size);
    if (size.startsWith("-")) {
      bytes = -bytes;
    }
    try (Qcow2Image opened = Qcow2Image.open(image, imageOptions.options(), true)) {
      long current = opened.virtualSize();
      if (relative && bytes > Long.MAX_VALUE - current) {
        throw new IllegalArgumentException("Invalid size '" + size + "': too large");
      }
      long target = relative ? current + bytes : bytes;
      if (target <= 0) {
        throw new IllegalArgumentException("New image size must be positive");
      }
      if (target < current && !shrink) {
        PrintWriter err = spec.commandLine().getErr();
        err.println("qcow2: Use the --shrink option to perform a shrink operation.");
        err.println("qcow2: warning: Shrinking an image will delete all data beyond the shrunken "
            + "image's end. Before performing such an operation, make sure there is no important "
            + "data there.");
        return Qcow2Command.EXIT_ERROR;
      }
      // qcow2_co_truncate's rule: the virtual size stays in whole sectors.
      if (target % 512 != 0) {
        throw new IllegalArgumentException("The new size must be a multiple of 512");
      }
      if (target < current) {
        opened.shrink(target);
      } else {
        opened.resize(target);
      }
    }
    if (!imageOptions.quiet) {
      spec.commandLine().getOut().println("Image resized.");
    }
    return 0;
  }
}
