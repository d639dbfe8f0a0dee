package io.qcow2.nbd;

import io.qcow2.format.MetadataCorruptionException;
import io.qcow2.format.MetadataOverlapException;
import io.qcow2.format.Qcow2Image;
import io.qcow2.format.ReadOnlyImageException;
import java.io.IOException;
import java.util.function.Consumer;

/**
 * The exported image, called by every worker of every connection at once: {@link Qcow2Image} is
 * thread-safe (reads and in-place writes of allocated clusters run in parallel; allocation,
 * zero writes, discards and flushes run alone, after the calls in flight). Each method returns the
 * NBD error value of its outcome (0 for success) rather than throwing: an engine error is the
 * client's reply, not the server's failure.
 */
final class ExportedImage {
  /** Zero bytes written per engine call for WRITE_ZEROES with NO_HOLE. */
  private static final int ZERO_CHUNK = 1 << 20;

  private final Qcow2Image image;
  private final Consumer<String> log;
  private final long size;
  /** Zeros for WRITE_ZEROES with NO_HOLE; only ever read, so shared by every worker. */
  private static final byte[] ZEROS = new byte[ZERO_CHUNK];

  ExportedImage(Qcow2Image image, Consumer<String> log) {
    this.image = image;
    this.log = log;
    this.size = image.virtualSize();
  }

  long size() {
    return size;
  }

  int read(long offset, byte[] buf, int len) {
    try {
      image.read(offset, buf, 0, len);
      return 0;
    } catch (IOException | RuntimeException e) {
      return error("read", offset, len, e);
    }
  }

  int write(long offset, byte[] buf, int len, boolean fua) {
    try {
      image.write(offset, buf, 0, len);
      if (fua) {
        image.flush();
      }
      return 0;
    } catch (IOException | RuntimeException e) {
      return error("write", offset, len, e);
    }
  }

  int writeZeroes(long offset, long len, boolean noHole, boolean fua) {
    try {
      if (noHole) {
        for (long done = 0; done < len; ) {
          int n = (int) Math.min(ZERO_CHUNK, len - done);
          image.write(offset + done, ZEROS, 0, n);
          done += n;
        }
      } else {
        image.writeZeroes(offset, len);
      }
      if (fua) {
        image.flush();
      }
      return 0;
    } catch (IOException | RuntimeException e) {
      return error("write zeroes", offset, len, e);
    }
  }

  int discard(long offset, long len, boolean fua) {
    try {
      image.discard(offset, len);
      if (fua) {
        image.flush();
      }
      return 0;
    } catch (IOException | RuntimeException e) {
      return error("discard", offset, len, e);
    }
  }

  /**
   * The allocation of {@code [offset, offset + len)} as base:allocation extents: pairs of (length,
   * {@link Nbd#STATE_HOLE}/{@link Nbd#STATE_ZERO} flags), at most {@code maxExtents} of them,
   * covering at least one byte; {@code null} if the engine failed (logged).
   */
  int[] allocation(long offset, long len, int maxExtents) {
    try {
      int[] extents = new int[2 * maxExtents];
      int n = 0;
      for (long at = offset, end = offset + len; at < end && n < maxExtents; ) {
        io.qcow2.format.Extent e = image.extentAt(at, Math.min(end - at, 1L << 30));
        if (e.length() <= 0) {
          break;
        }
        int state = switch (e.kind()) {
          case DATA, COMPRESSED -> 0;
          case ZERO, UNALLOCATED -> Nbd.STATE_HOLE | Nbd.STATE_ZERO;
        };
        if (n > 0 && extents[2 * n - 1] == state && (long) extents[2 * n - 2] + e.length() <= Integer.MAX_VALUE) {
          extents[2 * n - 2] += (int) e.length();
        } else {
          extents[2 * n] = (int) e.length();
          extents[2 * n + 1] = state;
          n++;
        }
        at += e.length();
      }
      return java.util.Arrays.copyOf(extents, 2 * n);
    } catch (IOException | RuntimeException e) {
      error("block status", offset, len, e);
      return null;
    }
  }

  int flush() {
    try {
      image.flush();
      return 0;
    } catch (IOException | RuntimeException e) {
      return error("flush", 0, 0, e);
    }
  }

  /** Flushes and closes the image; called once, after every connection has stopped. */
  void close() throws IOException {
    image.close();
  }

  /**
   * The NBD error for a failed call, as qemu-nbd maps errno: a corruption event is EIO and logged
   * (one line naming the metadata type and host offset); a write refused after it (the image is
   * read-only from then on) is EPERM; a range the engine rejects is EINVAL; anything else EIO.
   */
  private int error(String what, long offset, long len, Exception e) {
    if (e instanceof MetadataOverlapException || e instanceof MetadataCorruptionException) {
      log.accept("corruption on " + what + " at guest offset " + offset + " length " + len + ": "
          + e.getMessage());
      return Nbd.EIO;
    }
    if (e instanceof ReadOnlyImageException) {
      return Nbd.EPERM;
    }
    if (e instanceof IllegalArgumentException) {
      return Nbd.EINVAL;
    }
    if (e instanceof RuntimeException) {
      log.accept("internal error on " + what + " at guest offset " + offset + ": " + e);
    } else {
      log.accept(what + " at guest offset " + offset + " length " + len + " failed: " + e.getMessage());
    }
    return Nbd.EIO;
  }
}
