package io.qcow2.format;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdException;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * The codec of compressed clusters: the L2 descriptor (qcow2 spec, "Compressed Clusters
 * Descriptor") and the two compression types of the header's byte 104 (0 zlib: raw deflate without
 * a zlib header; 1 zstd: one zstd frame), in both directions as QEMU 7.2's {@code qcow2-threads.c}.
 */
final class CompressedClusters {
  static final int ZLIB = 0;
  static final int ZSTD = 1;

  /** The highest compression type QEMU 7.2 knows; a higher one is refused by name at open. */
  static final int MAX_TYPE = ZSTD;

  /** zstd's default level, which QEMU uses (ZSTD_CLEVEL_DEFAULT). */
  private static final int ZSTD_LEVEL = 3;

  /** Thrown when compressed bytes do not decode to exactly one cluster. */
  static final class BadDataException extends Exception {
    private static final long serialVersionUID = 1L;

    BadDataException(String message) {
      super(message);
    }
  }

  private CompressedClusters() {}

  /** The name of compression type {@code type}, as qemu-img info prints it. */
  static String name(int type) {
    switch (type) {
      case ZLIB:
        return "zlib";
      case ZSTD:
        return "zstd";
      default:
        return "compression type " + type;
    }
  }

  /**
   * Decodes {@code in[0..inLength)} into exactly {@code out.length} bytes. Trailing bytes after
   * the compressed stream are ignored (the descriptor rounds up to whole sectors).
   *
   * @throws BadDataException if the bytes are not valid data of {@code type} or decode to another
   *     length
   */
  static void decompress(int type, byte[] in, int inLength, byte[] out) throws BadDataException {
    switch (type) {
      case ZLIB:
        inflate(in, inLength, out);
        return;
      case ZSTD:
        unzstd(in, inLength, out);
        return;
      default:
        throw new BadDataException("unknown compression type " + type);
    }
  }

  private static void inflate(byte[] in, int inLength, byte[] out) throws BadDataException {
    Inflater inflater = new Inflater(true);
    try {
      inflater.setInput(in, 0, inLength);
      int n = 0;
      while (n < out.length) {
        int r = inflater.inflate(out, n, out.length - n);
        if (r == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) {
          break;
        }
        n += r;
      }
      if (n != out.length) {
        throw new BadDataException("inflates to " + n + " bytes, not the cluster size " + out.length);
      }
    } catch (DataFormatException e) {
      throw new BadDataException("not valid deflate data: " + e.getMessage());
    } finally {
      inflater.end();
    }
  }

  /* qcow2_zstd_decompress streams until the cluster is full; one frame is exactly that. */
  private static void unzstd(byte[] in, int inLength, byte[] out) throws BadDataException {
    long n;
    try {
      long frame = Zstd.findFrameCompressedSize(in, 0, inLength);
      n = Zstd.decompressByteArray(out, 0, out.length, in, 0, (int) frame);
    } catch (ZstdException e) {
      throw new BadDataException("not valid zstd data: " + e.getMessage());
    }
    if (Zstd.isError(n)) {
      throw new BadDataException("not valid zstd data: " + Zstd.getErrorName(n));
    }
    if (n != out.length) {
      throw new BadDataException("decompresses to " + n + " bytes, not the cluster size " + out.length);
    }
  }

  /**
   * Compresses one cluster so that QEMU reads it: raw deflate whose back-references reach at most
   * 4 KiB (QEMU inflates with a 12-bit window, {@code qcow2_zlib_decompress}), or a zstd frame at
   * level 3 ({@code qcow2_zstd_compress}).
   *
   * @return the compressed length in {@code out}, or -1 if it is not smaller than {@code
   *     maxLength} (QEMU then writes the cluster uncompressed)
   */
  static int compress(int type, byte[] in, int inOff, int inLength, byte[] out, int maxLength) {
    switch (type) {
      case ZLIB:
        return deflate(in, inOff, inLength, out, maxLength);
      case ZSTD: {
        try {
          long n = Zstd.compressByteArray(out, 0, maxLength, in, inOff, inLength, ZSTD_LEVEL);
          return Zstd.isError(n) || n >= maxLength ? -1 : (int) n;
        } catch (ZstdException e) {
          return -1; // "Destination buffer is too small": not smaller than the cluster
        }
      }
      default:
        throw new IllegalArgumentException("unknown compression type " + type);
    }
  }

  /*
   * java.util.zip cannot set deflate's window to 12 bits as QEMU's deflateInit2(..., -12, ...)
   * does. A full flush after every 4 KiB of input resets the compressor's history, so no match
   * reaches back further than the start of its 4 KiB piece: every distance fits QEMU's window.
   * The cost is a slightly larger output than QEMU's sliding 4 KiB window gives.
   */
  private static final int ZLIB_WINDOW = 4096;

  private static int deflate(byte[] in, int inOff, int inLength, byte[] out, int maxLength) {
    Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
    try {
      int n = 0;
      for (int piece = 0; piece < inLength; piece += ZLIB_WINDOW) {
        int length = Math.min(ZLIB_WINDOW, inLength - piece);
        boolean last = piece + length == inLength;
        deflater.setInput(in, inOff + piece, length);
        if (last) {
          deflater.finish();
        }
        while (true) {
          int room = maxLength - n;
          if (room <= 0) {
            return -1;
          }
          int r = last ? deflater.deflate(out, n, room)
              : deflater.deflate(out, n, room, Deflater.FULL_FLUSH);
          n += r;
          if (last ? deflater.finished() : r < room) {
            break;
          }
        }
      }
      return n < maxLength ? n : -1;
    } finally {
      deflater.end();
    }
  }
}
