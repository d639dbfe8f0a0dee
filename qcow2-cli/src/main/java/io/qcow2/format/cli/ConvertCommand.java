package io.qcow2.format.cli;

import io.qcow2.format.Qcow2Image;
import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
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
 * {@code qcow2 convert [-f FMT] [-O qcow2|raw] [-c] [-o OPTIONS] [--open-options K=V,...] [-q] SRC DST}: the guest contents
 * of a qcow2 or raw image written to a new qcow2 image or raw file, as {@code qemu-img convert}.
 * What reads as zeros is never written: the target stays unallocated (qcow2) or sparse (raw) there,
 * at the target's granularity (a qcow2 cluster, 4 KiB of a raw file: qemu-img's default {@code -S
 * 4k}).
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
    description = "Convert an image (qcow2 or raw) to a new qcow2 image or raw file.")
final class ConvertCommand implements Callable<Integer> {
  private static final int RAW_GRANULARITY = 4096;
  private static final int CHUNK = 2 << 20;

  @Spec CommandSpec spec;

  // Not ImageOptions as a mixin: -O is qemu-img's target format here, so open options are --open-options.
  @Option(names = "--overlap-strategy", paramLabel = "NAME",
      description = "Overlap check strategy (see 'qcow2 strategies'); default: windowed.")
  String strategy;

  @Option(names = "--overlap-check", paramLabel = "MODE",
      description = "Overlap check mode: none, constant, cached (default) or all.")
  String mode;

  @Option(names = "--open-options", paramLabel = "KEY=VALUE[,KEY=VALUE...]",
      description = "Open options of both images, e.g. overlap-check.inactive-l2=on; repeatable.")
  List<String> openOptions = new ArrayList<>();

  @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
  boolean quiet;

  @Mixin StrategyPathOption strategyPath;

  @Option(names = "-f", paramLabel = "FMT", description = "Source format: qcow2 or raw (default: probed).")
  String sourceFormat;

  @Option(names = "-O", paramLabel = "FMT", defaultValue = "raw",
      description = "Target format: qcow2 or raw (default: raw).")
  String targetFormat;

  @Option(names = "-c", description = "Write compressed clusters (qcow2 target).")
  boolean compress;

  @Option(names = "-o", paramLabel = "KEY=VALUE[,KEY=VALUE...]",
      description = "Create options of the qcow2 target, as 'create' takes them; repeatable.")
  List<String> createOptions = new ArrayList<>();

  @Parameters(index = "0", paramLabel = "SRC") Path source;
  @Parameters(index = "1", paramLabel = "DST") Path target;

  @Override
  public Integer call() throws IOException {
    Map<String, String> create = CreateOptions.parse(createOptions);
    if (!targetFormat.equals("qcow2") && !targetFormat.equals("raw")) {
      throw new IllegalArgumentException(
          "Unknown target format '" + targetFormat + "': qcow2 writes qcow2 and raw");
    }
    if (targetFormat.equals("raw") && !create.isEmpty()) {
      throw new IllegalArgumentException("Create options are for a qcow2 target; raw takes none");
    }
    if (targetFormat.equals("raw") && compress) {
      throw new IllegalArgumentException("Compression not supported for this file format (raw)");
    }
    if (create.containsKey("backing_file")) {
      throw new IllegalArgumentException(
          "convert writes the whole guest contents; a backing_file for the target is not supported");
    }
    ImageOptions imageOptions = new ImageOptions();
    imageOptions.strategy = strategy;
    imageOptions.mode = mode;
    imageOptions.openOptions = openOptions;
    imageOptions.quiet = quiet;
    Map<String, String> open = imageOptions.validatedWithoutOpening();
    try (SourceImage from = SourceImage.open(source, sourceFormat, imageOptions);
        Target to = targetFormat.equals("qcow2")
            ? new Qcow2Target(Qcow2Image.create(target, from.size(), create, open), compress)
            : new RawTarget(target, from.size())) {
      copy(from, to, new Progress(spec.commandLine().getErr(), imageOptions.progress(), from.size()));
    }
    return 0;
  }

  /*
   * Runs of the source that read as zeros are skipped; a run with data is copied in whole target
   * granules (clusters), each written only if it holds a non-zero byte. A data run that ends inside
   * a granule takes the whole granule, so the next run starts at a granule not yet written: a
   * granule is written at most once (a compressed cluster cannot be rewritten in place).
   */
  private static void copy(SourceImage from, Target to, Progress progress) throws IOException {
    long size = from.size();
    int granule = to.granularity();
    byte[] buf = new byte[Math.max(CHUNK, granule)];
    long pos = 0;
    while (pos < size) {
      SourceImage.Status status = from.status(pos);
      long runEnd = Math.min(size, pos + status.length());
      if (status.zero()) {
        pos = runEnd;
        progress.update(pos);
        continue;
      }
      long start = pos - pos % granule;
      long stop = Math.min(size, roundUp(runEnd, granule));
      while (start < stop) {
        int n = (int) Math.min(buf.length, stop - start);
        from.read(start, buf, n);
        writeNonZero(to, start, buf, n, granule);
        start += n;
        progress.update(start);
      }
      pos = stop;
    }
    progress.finish();
  }

  /** Writes the granules of {@code buf} that hold a non-zero byte, adjacent ones in one write. */
  private static void writeNonZero(Target to, long offset, byte[] buf, int n, int granule)
      throws IOException {
    int runStart = -1;
    for (int at = 0; at < n; at += granule) {
      int len = Math.min(granule, n - at);
      boolean data = !allZero(buf, at, len);
      if (data && runStart < 0) {
        runStart = at;
      } else if (!data && runStart >= 0) {
        to.write(offset + runStart, buf, runStart, at - runStart);
        runStart = -1;
      }
    }
    if (runStart >= 0) {
      to.write(offset + runStart, buf, runStart, n - runStart);
    }
  }

  private static boolean allZero(byte[] buf, int off, int len) {
    for (int i = off; i < off + len; i++) {
      if (buf[i] != 0) {
        return false;
      }
    }
    return true;
  }

  private static long roundUp(long value, int granule) {
    long rest = value % granule;
    return rest == 0 ? value : value + granule - rest;
  }

  /** Where {@code convert} writes. */
  private interface Target extends Closeable {
    /** The unit that is written whole or not at all. */
    int granularity();

    void write(long offset, byte[] buf, int off, int len) throws IOException;
  }

  private static final class Qcow2Target implements Target {
    private final Qcow2Image image;
    private final boolean compress;

    Qcow2Target(Qcow2Image image, boolean compress) {
      this.image = image;
      this.compress = compress;
    }

    @Override
    public int granularity() {
      return image.clusterSize();
    }

    @Override
    public void write(long offset, byte[] buf, int off, int len) throws IOException {
      if (compress) {
        image.writeCompressed(offset, buf, off, len);
      } else {
        image.write(offset, buf, off, len);
      }
    }

    @Override
    public void close() throws IOException {
      image.close();
    }
  }

  /** A raw file: as long as the guest, holes where nothing is written. */
  private static final class RawTarget implements Target {
    private final RandomAccessFile file;

    RawTarget(Path path, long size) throws IOException {
      file = new RandomAccessFile(path.toFile(), "rw");
      file.setLength(0);
      file.setLength(size);
    }

    @Override
    public int granularity() {
      return RAW_GRANULARITY;
    }

    @Override
    public void write(long offset, byte[] buf, int off, int len) throws IOException {
      file.seek(offset);
      file.write(buf, off, len);
    }

    @Override
    public void close() throws IOException {
      file.close();
    }
  }
}
