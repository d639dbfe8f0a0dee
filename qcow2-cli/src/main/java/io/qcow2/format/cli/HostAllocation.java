package io.qcow2.format.cli;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the file system has allocated for a host file, which Java's file API does not tell: the
 * allocated bytes ({@code st_blocks} × 512, {@code qemu-img info}'s {@code actual-size}) and the
 * data and hole runs of a sparse file ({@code lseek} with {@code SEEK_DATA}/{@code SEEK_HOLE}, as
 * QEMU's file driver reports block status).
 *
 * <p>Only on 64-bit Linux; elsewhere {@link #supported()} is false, {@link #allocatedBytes} is the
 * file's length and {@link #dataRun} reports the whole file as data.
 */
final class HostAllocation {
  /*
   * Why statx and not stat: struct stat's layout differs between architectures, statx's is fixed by
   * the kernel ABI (stx_blocks at byte 48 of a 256-byte struct), so a plain buffer reads it soundly
   * without a per-architecture struct definition. JNA calls libc directly (Function, Memory), so
   * no proxy or reflection is involved. glibc has statx since 2.28, Linux since 4.11.
   */
  private static final int AT_FDCWD = -100;
  private static final int STATX_BLOCKS = 0x400;
  private static final int STATX_SIZE = 256;
  private static final int STATX_MASK_OFFSET = 0;
  private static final int STATX_BLOCKS_OFFSET = 48;
  private static final int O_RDONLY = 0;
  private static final int O_CLOEXEC = 0x80000;
  private static final int SEEK_DATA = 3;
  private static final int SEEK_HOLE = 4;
  private static final int ENXIO = 6;

  private static final boolean SUPPORTED = Platform.isLinux() && Native.LONG_SIZE == 8 && libc();

  private HostAllocation() {}

  private static boolean libc() {
    try {
      Function.getFunction(Platform.C_LIBRARY_NAME, "statx");
      Function.getFunction(Platform.C_LIBRARY_NAME, "lseek");
      return true;
    } catch (UnsatisfiedLinkError e) {
      return false;
    }
  }

  /** Whether the native calls are available (64-bit Linux with glibc 2.28 or later). */
  static boolean supported() {
    return SUPPORTED;
  }

  /**
   * The bytes the file system allocated for {@code file}: {@code st_blocks} × 512, as QEMU's
   * {@code raw_get_allocated_file_size}. Without native support, the file's length.
   *
   * @throws IOException if the file cannot be examined
   */
  static long allocatedBytes(Path file) throws IOException {
    if (!SUPPORTED) {
      return Files.size(file);
    }
    try (Memory buf = new Memory(STATX_SIZE)) {
      buf.clear();
      int rc = function("statx").invokeInt(
          new Object[] {AT_FDCWD, file.toString(), 0, STATX_BLOCKS, buf});
      if (rc != 0) {
        throw new IOException("Could not stat '" + file + "': errno " + Native.getLastError());
      }
      if ((buf.getInt(STATX_MASK_OFFSET) & STATX_BLOCKS) == 0) {
        return Files.size(file); // the file system does not count blocks
      }
      return buf.getLong(STATX_BLOCKS_OFFSET) * 512;
    }
  }

  /**
   * The run that starts at {@code offset} of {@code file} (which is {@code length} bytes long):
   * positive, the bytes of data from there; negative, minus the bytes of hole. At most {@code
   * length - offset} either way. Without native support, all of it is data.
   *
   * @throws IOException if the file cannot be examined
   */
  static long dataRun(Path file, long offset, long length) throws IOException {
    if (offset < 0 || offset >= length) {
      throw new IllegalArgumentException("offset " + offset + " outside [0, " + length + ")");
    }
    if (!SUPPORTED) {
      return length - offset;
    }
    int fd = function("open").invokeInt(new Object[] {file.toString(), O_RDONLY | O_CLOEXEC});
    if (fd < 0) {
      throw new IOException("Could not open '" + file + "': errno " + Native.getLastError());
    }
    try {
      long data = function("lseek").invokeLong(new Object[] {fd, offset, SEEK_DATA});
      if (data < 0) {
        if (Native.getLastError() == ENXIO) {
          return -(length - offset); // a trailing hole
        }
        throw new IOException("lseek(SEEK_DATA) on '" + file + "': errno " + Native.getLastError());
      }
      if (data > offset) {
        return -(Math.min(data, length) - offset);
      }
      long hole = function("lseek").invokeLong(new Object[] {fd, offset, SEEK_HOLE});
      if (hole < 0) {
        throw new IOException("lseek(SEEK_HOLE) on '" + file + "': errno " + Native.getLastError());
      }
      return Math.min(hole, length) - offset;
    } finally {
      function("close").invokeInt(new Object[] {fd});
    }
  }

  private static Function function(String name) {
    return Function.getFunction(Platform.C_LIBRARY_NAME, name, Function.C_CONVENTION);
  }
}
