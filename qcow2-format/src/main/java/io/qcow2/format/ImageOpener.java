package io.qcow2.format;

import io.qcow2.overlap.OverlapCheckOptions;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Opening an image: the open options (the overlap checks', the selected strategy's and the cache
 * sizes), the file (a regular file), the header's refusals (corrupt, dirty: repaired first as
 * QEMU's qcow2_do_open, bitmaps we do not maintain), and the backing chain (names resolved and
 * formats probed as QEMU, at most {@value #MAX_BACKING_DEPTH} deep).
 */
final class ImageOpener {
  private static final int MAX_BACKING_DEPTH = 16;

  private ImageOpener() {}

  /** Opens {@code path} ({@code depth}: its place in a backing chain). */
  static Qcow2Image open(Path path, Map<String, String> options, boolean writable, int depth,
      boolean withBacking, HostIo.Opener opener) throws IOException {
    Objects.requireNonNull(path, "path");
    checkOpenOptions(options);
    checkRegularFile(path);
    HostIo io = opener.open(path, writable);
    try {
      Header header = Header.read(io);
      header.checkFeatures();
      if (writable && header.corrupt()) {
        throw new CorruptImageException(path + ": image is marked corrupt (corrupt bit set); it cannot be "
            + "opened read/write. Repair it with 'qcow2 check -r all' or 'qemu-img check -r all', "
            + "or open it read-only");
      }
      if (writable && header.dirty()) {
        io.close();
        repairDirty(path);
        return open(path, options, writable, depth, withBacking, opener);
      }
      Qcow2Image image = new Qcow2Image(path, io, header, writable, options, depth, withBacking);
      if (writable) {
        try {
          image.checkDistinctRefcountBlocks();
        } catch (CorruptImageException e) {
          image.close();
          throw e;
        }
      }
      if (writable) {
        image.prepareForWrites();
      }
      return image;
    } catch (IOException | RuntimeException e) {
      io.close();
      throw e;
    }
  }

  /**
   * QEMU's qcow2_do_open: a dirty image (refcounts left stale by lazy refcounts and a crash) opened
   * read/write is first checked and repaired ({@code check -r all}), which clears the dirty bit.
   *
   * @throws CorruptImageException if the repair fails or leaves errors, naming what remains
   */
  private static void repairDirty(Path path) throws IOException {
    RepairResult repaired = ImageCheck.repair(path, RepairMode.ALL, 0);
    if (repaired.failure() != null || repaired.result().exitCode() != 0) {
      throw new CorruptImageException(path + ": Could not repair dirty image (" + (repaired.failure() != null
          ? repaired.failure() : "'check -r all' left exit status " + repaired.result().exitCode())
          + "); open it read-only, or repair it with 'qemu-img check -r all'");
    }
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "r")) {
      f.seek(72);
      if ((f.readLong() & Header.INCOMPAT_DIRTY) != 0) {
        throw new CorruptImageException(path + ": Could not repair dirty image (the dirty bit stayed set)");
      }
    }
  }

  /**
   * A qcow2 image is a regular file: anything else fails here with what it is (RandomAccessFile
   * "rw" would create a missing file, and reads a device as an endless or empty stream).
   */
  static void checkRegularFile(Path path) throws IOException {
    if (java.nio.file.Files.isRegularFile(path)) {
      return;
    }
    if (java.nio.file.Files.isDirectory(path)) {
      throw new java.nio.file.FileSystemException(path.toString(), null, "Is a directory");
    }
    if (java.nio.file.Files.exists(path)) {
      throw new java.nio.file.FileSystemException(path.toString(), null,
          "Not a regular file (a device or special file); a qcow2 image is a regular file");
    }
    throw new java.nio.file.NoSuchFileException(path.toString(), null, "No such file or directory");
  }

  /**
   * Checks open options as {@link Qcow2Image#open} does before it reads the file: known keys only (the
   * overlap checks', the selected strategy's, and the cache sizes {@code l2-cache-size}, {@code
   * refcount-cache-size}, {@code cache-size}), each cache size well formed. For tools that read
   * an image without opening it ({@code qcow2 check}).
   *
   * @throws IllegalArgumentException naming the bad option
   */
  static void validateOpenOptions(Map<String, String> options) {
    checkOpenOptions(options);
    for (String name : CacheSizes.OPTION_NAMES) {
      if (options.containsKey(name)) {
        CacheSizes.parse(name, options.get(name));
      }
    }
  }

  static void checkOpenOptions(Map<String, String> options) {
    Objects.requireNonNull(options, "options");
    // The engine's own options are the cache sizes (checked when the header is known).
    try {
      OverlapCheckers.checkOptionNames(CacheSizes.withoutCacheOptions(options));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage() + "; the engine also accepts "
          + String.join(", ", CacheSizes.OPTION_NAMES), e);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The backing chain

  /** Opens the backing image {@code header} names, read-only, its checks off (as QEMU's). */
  static GuestImage openBacking(Path path, Header header, String strategyName, int depth) throws IOException {
    if (depth >= MAX_BACKING_DEPTH) {
      throw new UnsupportedFeatureException("Backing chain deeper than " + MAX_BACKING_DEPTH + " images: " + path);
    }
    Path backingPath = resolveBacking(path, header.backingFile);
    String format = header.backingFormat;
    try {
      if (format == null) {
        format = probeFormat(backingPath);
      }
      switch (format) {
        case "qcow2":
          Map<String, String> backingOptions = new HashMap<>();
          backingOptions.put(OverlapCheckers.STRATEGY_OPTION, strategyName);
          backingOptions.put(OverlapCheckOptions.OVERLAP_CHECK, "none");
          return open(backingPath, backingOptions, false, depth + 1, true, HostIo.FILES);
        case "raw":
          return new RawImage(backingPath);
        default:
          throw UnsupportedFeatureException.features("backing file format '" + format + "' (only qcow2 and raw)");
      }
    } catch (Qcow2Exception e) {
      throw e;
    } catch (IOException e) {
      // QEMU: "Could not open backing file: ..."; a missing or unreadable file is the image's fault.
      throw new Qcow2Exception(String.format("Could not open backing file '%s' of %s: %s",
          printable(header.backingFile), path, e), e);
    }
  }

  /** Resolves a backing file name as QEMU does: relative names against the image's directory. */
  static Path resolveBacking(Path image, String name) throws Qcow2Exception {
    if (name.startsWith("json:") || name.contains("://")) {
      throw UnsupportedFeatureException.features("backing file name '" + printable(name)
          + "' (protocols and json: are not supported)");
    }
    Path p;
    try {
      p = Path.of(name);
    } catch (InvalidPathException e) {
      throw new CorruptImageException("Invalid backing file name '" + printable(name) + "': " + e.getReason());
    }
    if (p.isAbsolute()) {
      return p;
    }
    Path dir = image.toAbsolutePath().getParent();
    return dir == null ? p : dir.resolve(p);
  }

  /**
   * {@code text} with control characters (NUL included) escaped as {@code \xNN}, for names read
   * from an image that end up in a message.
   */
  static String printable(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (Character.isISOControl(c)) {
        out.append(String.format("\\x%02x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.toString();
  }

  static String probeFormat(Path path) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "r")) {
      return f.length() >= 4 && f.readInt() == Header.MAGIC ? "qcow2" : "raw";
    }
  }
}
