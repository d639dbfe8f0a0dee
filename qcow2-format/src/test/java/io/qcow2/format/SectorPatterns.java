package io.qcow2.format;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Self-describing guest data for concurrency tests: each 512-byte sector written holds its own
 * guest sector index (bytes 0-7), a version (bytes 8-15), then a byte derived from the sector
 * index alone. A reader that does not know what was written last can still tell whether each byte
 * it read is zero or belongs to something written for exactly that sector, so a write that landed
 * on another guest offset, or metadata read as data, is caught while the writers race. A read
 * racing a write of the same sector may return a mix of old and new bytes (a torn sector: the host
 * file gives no sector atomicity, and neither does the engine or NBD); the fill not depending on
 * the version keeps such a mix recognisable.
 */
public final class SectorPatterns {
  public static final int SECTOR = 512;

  private SectorPatterns() {}

  /** {@code length / 512} sectors for guest offset {@code offset} (sector aligned), one version. */
  public static byte[] sectors(long offset, int length, long version) {
    byte[] data = new byte[length];
    for (int at = 0; at < length; at += SECTOR) {
      fill(data, at, (offset + at) / SECTOR, version);
    }
    return data;
  }

  public static void fill(byte[] buf, int at, long sector, long version) {
    ByteBuffer.wrap(buf).putLong(at, sector).putLong(at + 8, version);
    Arrays.fill(buf, at + 16, at + SECTOR, fillByte(sector));
  }

  private static byte fillByte(long sector) {
    return (byte) (sector * 31 + 7);
  }

  /**
   * Whether every byte of the sector at {@code buf[at]}, read at guest sector {@code sector}, is
   * zero or the byte a pattern written for that sector has there (the version bytes may be any
   * mix of versions).
   */
  public static boolean plausible(byte[] buf, int at, long sector) {
    byte[] index = ByteBuffer.allocate(8).putLong(sector).array();
    for (int i = 0; i < 8; i++) {
      if (buf[at + i] != 0 && buf[at + i] != index[i]) {
        return false;
      }
    }
    byte fill = fillByte(sector);
    for (int i = at + 16; i < at + SECTOR; i++) {
      if (buf[i] != 0 && buf[i] != fill) {
        return false;
      }
    }
    return true;
  }

  /** The first 16 bytes of a sector, for messages. */
  public static String describe(byte[] buf, int at) {
    ByteBuffer b = ByteBuffer.wrap(buf);
    return "sector field " + b.getLong(at) + ", version 0x" + Long.toHexString(b.getLong(at + 8));
  }

  /** Fails naming the first sector of {@code actual} that differs from {@code model}. */
  public static void assertSameSectors(byte[] model, byte[] actual, String context) {
    if (model.length != actual.length) {
      throw new AssertionError(context + ": length " + actual.length + ", expected " + model.length);
    }
    for (int at = 0; at < model.length; at += SECTOR) {
      if (!Arrays.equals(model, at, at + SECTOR, actual, at, at + SECTOR)) {
        throw new AssertionError(context + ": sector " + at / SECTOR + " (guest offset " + at
            + ") differs from the model: expected " + describe(model, at) + ", found " + describe(actual, at));
      }
    }
  }
}
