package io.qcow2.format.cli;

import io.qcow2.format.Extent;
import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 convert IMAGE OUT.raw}: the guest-visible contents as a raw file, sparse where the
 * guest reads zeros.
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
    description = "Write the guest-visible contents to a raw file.")
final class ConvertCommand implements Callable<Integer> {
  private static final int CHUNK = 1 << 20;

  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Parameters(index = "0", paramLabel = "IMAGE") Path image;
  @Parameters(index = "1", paramLabel = "OUT.raw") Path target;

  @Override
  public Integer call() throws IOException {
    try (Qcow2Image opened = imageOptions.open(image);
        RandomAccessFile out = new RandomAccessFile(target.toFile(), "rw")) {
      long size = opened.virtualSize();
      out.setLength(0);
      out.setLength(size);
      Progress progress = new Progress(spec.commandLine().getErr(), imageOptions.progress(), size);
      byte[] buffer = new byte[CHUNK];
      for (Extent extent : opened.map()) {
        if (extent.kind() == Extent.Kind.ZERO || extent.kind() == Extent.Kind.UNALLOCATED) {
          continue; // the file is already zero there, and sparse
        }
        for (long done = 0; done < extent.length(); ) {
          int n = (int) Math.min(CHUNK, extent.length() - done);
          opened.read(extent.guestOffset() + done, buffer, 0, n);
          if (!allZero(buffer, n)) {
            out.seek(extent.guestOffset() + done);
            out.write(buffer, 0, n);
          }
          done += n;
          progress.update(extent.guestOffset() + done);
        }
      }
      progress.finish();
    }
    return 0;
  }

  private static boolean allZero(byte[] buffer, int n) {
    for (int i = 0; i < n; i++) {
      if (buffer[i] != 0) {
        return false;
      }
    }
    return true;
  }
}
