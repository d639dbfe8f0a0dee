package io.qcow2.format;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Creates images as {@code qemu-img create -f qcow2} does: header, a one-cluster refcount table and
 * one refcount block at clusters 0 to 2, then the image is opened and grown to its size through the
 * normal allocation path (which places the L1 table), and preallocated if asked.
 */
final class ImageCreator {
  static final String CLUSTER_SIZE = "cluster_size";
  static final String REFCOUNT_BITS = "refcount_bits";
  static final String COMPAT = "compat";
  static final String LAZY_REFCOUNTS = "lazy_refcounts";
  static final String BACKING_FILE = "backing_file";
  static final String BACKING_FMT = "backing_fmt";
  static final String PREALLOCATION = "preallocation";
  static final String COMPRESSION_TYPE = "compression_type";
  private static final Set<String> KEYS = Set.of(CLUSTER_SIZE, REFCOUNT_BITS, COMPAT,
      LAZY_REFCOUNTS, BACKING_FILE, BACKING_FMT, PREALLOCATION, COMPRESSION_TYPE);

  private ImageCreator() {}

  static Qcow2Image create(Path path, long virtualSize, Map<String, String> options,
      Map<String, String> openOptions) throws IOException {
    for (String key : options.keySet()) {
      if (!KEYS.contains(key)) {
        throw new IllegalArgumentException(String.format(
            "Unknown qcow2 create option '%s'; allowed: %s", key, String.join(", ", new java.util.TreeSet<>(KEYS))));
      }
    }
    int clusterSize = (int) parseSize(CLUSTER_SIZE, options.getOrDefault(CLUSTER_SIZE, "65536"));
    if (clusterSize < 512 || clusterSize > (2 << 20) || Integer.bitCount(clusterSize) != 1) {
      throw new IllegalArgumentException(String.format(
          "Invalid %s %d: must be a power of two between 512 and 2097152 (2M)", CLUSTER_SIZE, clusterSize));
    }
    int clusterBits = Integer.numberOfTrailingZeros(clusterSize);
    int refcountBits = parseInt(REFCOUNT_BITS, options.getOrDefault(REFCOUNT_BITS, "16"));
    if (refcountBits < 1 || refcountBits > 64 || Integer.bitCount(refcountBits) != 1) {
      throw new IllegalArgumentException(String.format(
          "Invalid %s %d: must be a power of two between 1 and 64 (1, 2, 4, 8, 16, 32, 64)", REFCOUNT_BITS, refcountBits));
    }
    String compat = options.getOrDefault(COMPAT, "1.1");
    int version;
    switch (compat) {
      case "0.10": case "v2": version = 2; break;
      case "1.1": case "v3": version = 3; break;
      default:
        throw new IllegalArgumentException(String.format(
            "Invalid %s '%s': allowed values are 0.10, 1.1 (also v2, v3)", COMPAT, compat));
    }
    boolean lazy = parseBool(LAZY_REFCOUNTS, options.getOrDefault(LAZY_REFCOUNTS, "off"));
    if (version == 2 && lazy) {
      throw new IllegalArgumentException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1)");
    }
    if (version == 2 && refcountBits != 16) {
      throw new IllegalArgumentException(
          "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1)");
    }
    int compressionType = compressionType(options.getOrDefault(COMPRESSION_TYPE, "zlib"));
    if (version == 2 && compressionType != CompressedClusters.ZLIB) {
      throw new IllegalArgumentException("Non-zlib compression type is only supported with "
          + "compatibility level 1.1 and above (use compat=1.1)");
    }
    String backingFile = options.get(BACKING_FILE);
    String backingFmt = options.get(BACKING_FMT);
    if (backingFmt != null && backingFile == null) {
      throw new IllegalArgumentException("Option backing_fmt requires backing_file");
    }
    if (backingFmt != null && !backingFmt.equals("qcow2") && !backingFmt.equals("raw")) {
      throw new IllegalArgumentException("Invalid backing_fmt '" + backingFmt + "': allowed values are qcow2, raw");
    }
    String prealloc = options.getOrDefault(PREALLOCATION, "off");
    if (!Set.of("off", "metadata", "falloc", "full").contains(prealloc)) {
      throw new IllegalArgumentException(String.format(
          "Invalid %s '%s': allowed values are off, metadata, falloc, full", PREALLOCATION, prealloc));
    }
    if (backingFile != null && !prealloc.equals("off")) {
      throw new IllegalArgumentException("Backing file and preallocation can only be used at the same time if extended_l2 is on");
    }
    if (backingFile != null) {
      byte[] name = backingFile.getBytes(StandardCharsets.UTF_8);
      if (name.length > Header.MAX_BACKING_NAME) {
        throw new IllegalArgumentException("Backing file name too long (at most 1023 bytes): " + backingFile);
      }
      Path resolved = ImageOpener.resolveBacking(path, backingFile);
      if (backingFmt == null) {
        backingFmt = ImageOpener.probeFormat(resolved);
      }
      if (virtualSize == -1) {
        virtualSize = backingFmt.equals("qcow2")
            ? readQcow2Size(resolved) : Files.size(resolved);
      }
    }
    if (virtualSize < 0) {
      throw new IllegalArgumentException("Invalid virtual size " + virtualSize + ": must be >= 0 (or -1 with a backing file)");
    }
    virtualSize = (virtualSize + 511) & ~511L;
    long l1Entries = Header.l1EntriesFor(virtualSize, clusterBits);
    if (l1Entries > Header.MAX_L1_BYTES / 8) {
      throw new IllegalArgumentException(String.format(
          "Virtual size %d too large for cluster size %d: it needs %d L1 entries, at most %d allowed",
          virtualSize, clusterSize, l1Entries, Header.MAX_L1_BYTES / 8));
    }

    byte[] cluster0 = buildHeader(version, clusterBits, refcountBits, lazy, backingFile, backingFmt);
    if (compressionType != CompressedClusters.ZLIB) {
      // Header byte 104 and its incompatible bit (qcow2 spec, "compression type").
      ByteBuffer.wrap(cluster0).putLong(72, Header.INCOMPAT_COMPRESSION).put(104, (byte) compressionType);
    }
    byte[] reftable = new byte[clusterSize];
    ByteBuffer.wrap(reftable).putLong(0, 2L * clusterSize);
    byte[] refblock = new byte[clusterSize];
    int order = Integer.numberOfTrailingZeros(refcountBits);
    for (int i = 0; i < 3; i++) {
      RefcountEntries.set(refblock, i, order, 1);
    }
    try (RandomAccessFile raf = new RandomAccessFile(path.toFile(), "rw")) {
      raf.setLength(0);
      raf.write(cluster0);
      raf.write(reftable);
      raf.write(refblock);
    }
    Qcow2Image image = Qcow2Image.open(path, openOptions, true);
    try {
      image.resize(virtualSize);
      if (!prealloc.equals("off")) {
        image.preallocate(prealloc.equals("full"));
      }
      return image;
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
  }

  private static int compressionType(String value) {
    switch (value) {
      case "zlib": return CompressedClusters.ZLIB;
      case "zstd": return CompressedClusters.ZSTD;
      default:
        throw new IllegalArgumentException(String.format(
            "Invalid %s '%s': allowed values are zlib, zstd", COMPRESSION_TYPE, value));
    }
  }

  private static long readQcow2Size(Path path) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "r")) {
      f.seek(24);
      return f.readLong();
    }
  }

  private static byte[] buildHeader(int version, int clusterBits, int refcountBits, boolean lazy,
      String backingFile, String backingFmt) {
    int clusterSize = 1 << clusterBits;
    byte[] raw = new byte[clusterSize];
    ByteBuffer b = ByteBuffer.wrap(raw);
    b.putInt(0, Header.MAGIC);
    b.putInt(4, version);
    b.putInt(20, clusterBits);
    b.putLong(24, 0);
    b.putInt(36, 0);
    b.putLong(40, 0);
    b.putLong(48, clusterSize);
    b.putInt(56, 1);
    int headerLength = version == 2 ? Header.V2_LENGTH : 112;
    if (version == 3) {
      b.putLong(80, lazy ? Header.COMPAT_LAZY_REFCOUNTS : 0);
      b.putInt(96, Integer.numberOfTrailingZeros(refcountBits));
      b.putInt(100, headerLength);
    }
    int pos = headerLength;
    if (backingFmt != null) {
      byte[] fmt = backingFmt.getBytes(StandardCharsets.US_ASCII);
      b.putInt(pos, HeaderExtension.BACKING_FORMAT);
      b.putInt(pos + 4, fmt.length);
      System.arraycopy(fmt, 0, raw, pos + 8, fmt.length);
      pos += 8 + ((fmt.length + 7) & ~7);
    }
    int nameLength = backingFile == null ? 0 : backingFile.getBytes(StandardCharsets.UTF_8).length;
    if (version == 3 && pos + 8 + 8 * 48 + 8 + nameLength <= clusterSize) {
      pos = putFeatureNames(b, pos);
    }
    pos += 8; // end-of-extensions marker: type 0, length 0
    if (backingFile != null) {
      byte[] name = backingFile.getBytes(StandardCharsets.UTF_8);
      b.putLong(8, pos);
      b.putInt(16, name.length);
      System.arraycopy(name, 0, raw, pos, name.length);
    }
    return raw;
  }

  /** QEMU's feature name table, so that tools name our feature bits. */
  private static int putFeatureNames(ByteBuffer b, int pos) {
    String[][] names = {
        {"0", "0", "dirty bit"}, {"0", "1", "corrupt bit"}, {"0", "2", "external data file"},
        {"0", "3", "compression type"}, {"0", "4", "extended L2 entries"},
        {"1", "0", "lazy refcounts"}, {"2", "0", "bitmaps"}, {"2", "1", "raw external data"}};
    b.putInt(pos, HeaderExtension.FEATURE_NAME_TABLE);
    b.putInt(pos + 4, names.length * 48);
    int p = pos + 8;
    for (String[] n : names) {
      b.put(p, (byte) Integer.parseInt(n[0]));
      b.put(p + 1, (byte) Integer.parseInt(n[1]));
      byte[] s = n[2].getBytes(StandardCharsets.US_ASCII);
      b.position(p + 2);
      b.put(s);
      p += 48;
    }
    b.position(0);
    return p;
  }

  private static long parseSize(String key, String value) {
    String v = value.trim().toLowerCase(Locale.ROOT);
    long mult = 1;
    if (v.endsWith("k")) {
      mult = 1 << 10;
    } else if (v.endsWith("m")) {
      mult = 1 << 20;
    }
    if (mult != 1) {
      v = v.substring(0, v.length() - 1);
    }
    try {
      return Long.parseLong(v) * mult;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(String.format(
          "Invalid %s '%s': must be a number of bytes, optionally with suffix k or M", key, value));
    }
  }

  private static int parseInt(String key, String value) {
    try {
      return Integer.parseInt(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(String.format("Invalid %s '%s': must be an integer", key, value));
    }
  }

  private static boolean parseBool(String key, String value) {
    switch (value) {
      case "on": case "true": case "yes": return true;
      case "off": case "false": case "no": return false;
      default:
        throw new IllegalArgumentException(String.format("Invalid %s '%s': allowed values are on, off", key, value));
    }
  }
}
