package io.qcow2.format.cli;

import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code qcow2 resize IMAGE [+]SIZE}: grows the virtual size, to {@code SIZE} or by {@code +SIZE},
 * as {@code qemu-img resize}. Shrinking is refused: the engine cannot shrink.
 */
@Command(name = "resize", mixinStandardHelpOptions = true,
    description = "Grow an image's virtual size (SIZE or +SIZE); shrinking is not supported.")
final class ResizeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Parameters(index = "0", paramLabel = "IMAGE") Path image;

  @Parameters(index = "1", arity = "0..1", paramLabel = "[+]SIZE",
      description = "New size, or +SIZE to grow by SIZE (k, M, G, T suffixes).")
  String size;

  /** Where picocli puts {@code -SIZE}, which looks like an option, so that it can be refused. */
  @Unmatched List<String> unmatched = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    if (size == null && unmatched.size() == 1) {
      size = unmatched.get(0);
    } else if (size == null || !unmatched.isEmpty()) {
      throw new ParameterException(spec.commandLine(), size == null
          ? "Missing required parameter: '[+]SIZE'" : "Unknown arguments: " + unmatched);
    }
    if (size.startsWith("-")) {
      throw new IllegalArgumentException(
          "Shrinking is not supported: '" + size + "' would make the image smaller");
    }
    boolean relative = size.startsWith("+");
    long bytes = SizeArgument.parse("size", relative ? size.substring(1) : size);
    try (Qcow2Image opened = Qcow2Image.open(image, imageOptions.options(), true)) {
      long current = opened.virtualSize();
      if (relative && bytes > Long.MAX_VALUE - current) {
        throw new IllegalArgumentException("Invalid size '" + size + "': too large");
      }
      long target = relative ? current + bytes : bytes;
      if (target < current) {
        throw new IllegalArgumentException(String.format(
            "Shrinking is not supported: new size %d is below the current size %d", target, current));
      }
      // qcow2_co_truncate's rule: the virtual size stays in whole sectors.
      if (target % 512 != 0) {
        throw new IllegalArgumentException("The new size must be a multiple of 512");
      }
      opened.resize(target);
    }
    if (!imageOptions.quiet) {
      spec.commandLine().getOut().println("Image resized.");
    }
    return 0;
  }
}
