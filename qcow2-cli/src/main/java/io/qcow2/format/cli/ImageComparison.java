package io.qcow2.format.cli;

import java.io.IOException;

/**
 * One run of {@code compare}: qemu-img 7.2's {@code img_compare}, step for step. The images are
 * walked in runs of equal block status; where both are allocated their bytes are compared, where
 * one is, it must read as zeros; past the shorter image the longer must read as zeros. A
 * mismatch is reported at the first 512-byte sector that differs, as QEMU's {@code
 * compare_buffers} and {@code find_nonzero} do.
 */
final class ImageComparison {
  /** qemu-img's IO_BUF_SIZE: the largest run read at once. */
  private static final int CHUNK = 2 << 20;
  private static final int SECTOR = 512;

  /** What the comparison prints and returns; either text may be null. */
  record Outcome(int exitCode, String stdout, String stderr) {}

  private final SourceImage one;
  private final SourceImage two;
  private final boolean strict;
  private final Progress progress;
  private final byte[] buf1 = new byte[CHUNK];
  private final byte[] buf2 = new byte[CHUNK];

  ImageComparison(SourceImage one, SourceImage two, boolean strict, Progress progress) {
    this.one = one;
    this.two = two;
    this.strict = strict;
    this.progress = progress;
  }

  Outcome run() {
    try {
      return compare();
    } finally {
      progress.finish();
    }
  }

  private Outcome compare() {
    long size1 = one.size();
    long size2 = two.size();
    long common = Math.min(size1, size2);
    long longest = Math.max(size1, size2);
    if (strict && size1 != size2) {
      return new Outcome(CompareCommand.DIFFERENT, "Strict mode: Image size mismatch!\n", null);
    }
    long offset = 0;
    while (offset < common) {
      SourceImage.Status s1;
      SourceImage.Status s2;
      try {
        s1 = one.status(offset);
      } catch (IOException e) {
        return statusFailed(one);
      }
      try {
        s2 = two.status(offset);
      } catch (IOException e) {
        return statusFailed(two);
      }
      long chunk = Math.min(Math.min(s1.length(), s2.length()), common - offset);
      if (strict && s1.flags() != s2.flags()) {
        return new Outcome(CompareCommand.DIFFERENT,
            "Strict mode: Offset " + offset + " block status mismatch!\n", null);
      }
      if (s1.zero() && s2.zero()) {
        // both read as zeros
      } else if (s1.allocated() == s2.allocated()) {
        if (s1.allocated()) {
          chunk = Math.min(chunk, CHUNK);
          int n = (int) chunk;
          Outcome failed = read(one, offset, buf1, n);
          if (failed == null) {
            failed = read(two, offset, buf2, n);
          }
          if (failed != null) {
            return failed;
          }
          long differs = firstDifferentSector(buf1, buf2, n);
          if (differs >= 0) {
            return mismatch(offset + differs);
          }
        }
      } else {
        chunk = Math.min(chunk, CHUNK);
        Outcome result = checkEmpty(s1.allocated() ? one : two, offset, (int) chunk);
        if (result != null) {
          return result;
        }
      }
      offset += chunk;
      progress.update(offset);
    }
    if (size1 == size2) {
      return identical(null);
    }
    StringBuilder out = new StringBuilder("Warning: Image size mismatch!\n");
    SourceImage over = size1 > size2 ? one : two;
    while (offset < longest) {
      SourceImage.Status s;
      try {
        s = over.status(offset);
      } catch (IOException e) {
        return prefixed(out, statusFailed(over));
      }
      long chunk = s.length();
      if (s.allocated() && !s.zero()) {
        chunk = Math.min(chunk, CHUNK);
        Outcome result = checkEmpty(over, offset, (int) chunk);
        if (result != null) {
          return prefixed(out, result);
        }
      }
      offset += chunk;
      progress.update(offset);
    }
    return identical(out);
  }

  private static Outcome identical(StringBuilder before) {
    String text = (before == null ? "" : before.toString()) + "Images are identical.\n";
    return new Outcome(CompareCommand.IDENTICAL, text, null);
  }

  private static Outcome prefixed(StringBuilder before, Outcome outcome) {
    String text = outcome.stdout() == null ? before.toString() : before + outcome.stdout();
    return new Outcome(outcome.exitCode(), text, outcome.stderr());
  }

  private static Outcome mismatch(long offset) {
    return new Outcome(CompareCommand.DIFFERENT, "Content mismatch at offset " + offset + "!\n", null);
  }

  private static Outcome statusFailed(SourceImage image) {
    return new Outcome(CompareCommand.STATUS_ERROR, null,
        "Sector allocation test failed for " + image.path);
  }

  /** Reads, or the outcome of a failed read. */
  private static Outcome read(SourceImage image, long offset, byte[] buf, int n) {
    try {
      image.read(offset, buf, n);
      return null;
    } catch (IOException | RuntimeException e) {
      return new Outcome(CompareCommand.READ_ERROR, null, "Error while reading offset " + offset
          + " of " + image.path + ": " + Qcow2Command.message(e));
    }
  }

  /** qemu-img's check_empty_sectors: null when the run reads as zeros, else its outcome. */
  private Outcome checkEmpty(SourceImage image, long offset, int n) {
    Outcome failed = read(image, offset, buf1, n);
    if (failed != null) {
      return failed;
    }
    for (int sector = 0; sector < n; sector += SECTOR) {
      int end = Math.min(n, sector + SECTOR);
      for (int i = sector; i < end; i++) {
        if (buf1[i] != 0) {
          return mismatch(offset + sector);
        }
      }
    }
    return null;
  }

  /** The offset of the first 512-byte sector in which the buffers differ, or -1. */
  static long firstDifferentSector(byte[] a, byte[] b, int n) {
    int at = java.util.Arrays.mismatch(a, 0, n, b, 0, n);
    return at < 0 ? -1 : at - at % SECTOR;
  }
}
