package io.qcow2.format.cli;

import io.qcow2.format.ImageInfo;
import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 create [-o key=value,...] IMAGE [SIZE]}: a new image, as {@code qemu-img create -f
 * qcow2}. The open options apply to the writes of {@code preallocation=metadata}.
 */
@Command(name = "create", mixinStandardHelpOptions = true,
    description = "Create a qcow2 image.")
final class CreateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Option(names = "-o", paramLabel = "KEY=VALUE[,KEY=VALUE...]",
      description = "Create options (QEMU's): cluster_size, refcount_bits, compat, lazy_refcounts, "
          + "backing_file, backing_fmt, preallocation, compression_type; repeatable.")
  List<String> createOptions = new ArrayList<>();

  @Parameters(index = "0", paramLabel = "IMAGE") Path image;

  @Parameters(index = "1", arity = "0..1", paramLabel = "SIZE",
      description = "Virtual size (k, M, G, T suffixes); default: the backing file's size.")
  String size;

  @Override
  public Integer call() throws IOException {
    Map<String, String> create = createOptions();
    // Checked before the file is written: a bad strategy or mode must not leave a half-made image.
    Map<String, String> open = imageOptions.validatedWithoutOpening();
    long bytes = size == null ? -1 : SizeArgument.parse("image size", size);
    if (bytes == -1 && !create.containsKey("backing_file")) {
      throw new IllegalArgumentException("Image creation needs a size parameter");
    }
    try (Qcow2Image created = Qcow2Image.create(image, bytes, create, open)) {
      if (!imageOptions.quiet) {
        spec.commandLine().getOut().println(formatting(created.info(), create));
      }
    }
    return 0;
  }

  /** The {@code -o} pairs in order; a later pair for the same key wins, as in qemu-img. */
  private Map<String, String> createOptions() {
    return CreateOptions.parse(createOptions);
  }

  /** qemu-img 7.2's line, in its order, with the values the image got. */
  private String formatting(ImageInfo info, Map<String, String> create) {
    StringBuilder line = new StringBuilder()
        .append("Formatting '").append(image).append("', fmt=qcow2")
        .append(" cluster_size=").append(info.clusterSize())
        .append(" extended_l2=off");
    if (create.containsKey("preallocation")) {
      line.append(" preallocation=").append(create.get("preallocation"));
    }
    line.append(" compression_type=").append(create.getOrDefault("compression_type", "zlib"))
        .append(" size=").append(info.virtualSize());
    if (info.backingFile() != null) {
      line.append(" backing_file=").append(info.backingFile());
    }
    if (info.backingFormat() != null) {
      line.append(" backing_fmt=").append(info.backingFormat());
    }
    if (create.containsKey("compat")) {
      line.append(" compat=").append(info.compat());
    }
    return line.append(" lazy_refcounts=").append(info.lazyRefcounts() ? "on" : "off")
        .append(" refcount_bits=").append(info.refcountBits())
        .toString();
  }
}
