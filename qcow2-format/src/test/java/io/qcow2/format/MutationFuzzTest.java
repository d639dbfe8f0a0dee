package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.OverlapChecker;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Feeds thousands of corrupted copies of small real images to open, read-everything and check:
 * each must end in a report or a typed {@link Qcow2Exception}, never a hang, an {@link
 * OutOfMemoryError} or an unchecked exception.
 *
 * <p>Mutations hit header fields, header bytes, L1, L2 and refcount table entries, refcount block
 * bytes and snapshot table bytes, with values chosen to break bounds (0, all ones, powers of two,
 * the file length, misaligned offsets). Seeded: {@code -Dfuzz.seed=N}, {@code -Dfuzz.cases=N}; a
 * failing input is written to {@code target/fuzz-failures/} and its case number printed.
 */
class MutationFuzzTest {
  private static final long SEED = Long.getLong("fuzz.seed", 20261125L);
  private static final int CASES = Integer.getInteger("fuzz.cases", 3000);
  /** Guest bytes read per case: a mutated virtual size must not turn the test into a disk read. */
  private static final int MAX_READ = 2 << 20;

  record Base(String name, byte[] bytes, TestImages.Layout layout) {}

  @TempDir static Path dir;
  private static List<Base> bases;

  @BeforeAll
  static void buildBases() throws IOException {
    QemuTools.assumeAvailable();
    bases = bases(dir);
  }

  /** ImageCheck alone: every corrupted image gives a report or a typed error. */
  @Test
  void checkEndsInReportOrTypedError() throws IOException {
    fuzz("check", image -> {
      try {
        ImageCheck.run(image, 10);
        return false;
      } catch (Qcow2Exception e) {
        return true;
      }
    });
  }

  /**
   * The engine: open with every overlap check on, read the guest (up to {@link #MAX_READ}), ask
   * the checker about every cluster of the file.
   */
  @Test
  void openAndReadEndInTypedErrorOrSuccess() throws IOException {
    fuzz("open+read", MutationFuzzTest::openAndRead);
  }

  /**
   * The write path: open for writing with every overlap check on, then write, zero and discard a
   * few guest ranges, and create, apply and delete internal snapshots. A corrupt image may be refused, a write may be stopped by a check (the image
   * is then marked corrupt): both are typed errors; nothing else may escape.
   */
  @Test
  void openForWriteAndWriteEndInTypedErrorOrSuccess() throws IOException {
    fuzz("open+write", MutationFuzzTest::openAndWrite);
  }

  /**
   * A compressed write, the guest map, growth and shrinking, each tried whatever the one before
   * did (a typed error ends only that step): the paths the write test does not reach.
   */
  @Test
  void compressedWriteMapAndResizeEndInTypedErrorOrSuccess() throws IOException {
    fuzz("reshape", MutationFuzzTest::reshape);
  }

  /** A step of {@link #reshape}. */
  private interface Step {
    void run() throws IOException;
  }

  private static boolean reshape(Path image) throws IOException {
    long sizeBefore = Files.size(image);
    boolean typed = false;
    try (Qcow2Image opened = Qcow2Image.open(image, Map.of("overlap-check", "all"), true)) {
      long size = opened.virtualSize();
      int cluster = opened.clusterSize();
      byte[] data = new byte[cluster];
      Arrays.fill(data, (byte) 0x5a);
      List<Step> steps = List.of(
          () -> opened.map(),
          () -> {
            if (size >= 2L * cluster) {
              opened.writeCompressed(size / cluster / 2 * cluster, data, 0, cluster);
            }
          },
          () -> opened.resize(size + (1 << 20)),
          () -> opened.shrink(size / 2 / cluster * cluster),
          () -> opened.map(),
          opened::flush);
      for (Step step : steps) {
        try {
          step.run();
        } catch (Qcow2Exception e) {
          typed = true;
        }
      }
    } finally {
      long grown = Files.size(image) - sizeBefore;
      if (grown > MAX_GROWTH) {
        throw new AssertionError("image file grew by " + grown + " bytes");
      }
    }
    return typed;
  }

  /**
   * Repair ({@code check -r all}): a report or a typed error, within the same bounds of time and
   * memory. A refcount table entry far past the end of the file once made it grow the file to
   * that offset and count every cluster up to it, gigabytes for one changed byte.
   */
  @Test
  void repairEndsInReportOrTypedError() throws IOException {
    fuzz("repair", image -> {
      ImageCheck.repair(image, RepairMode.ALL, 10);
      return false;
    });
  }

  /**
   * Bytes one case may allocate in all, garbage included. The inputs are files of at most 60 KiB
   * whose fields claim tables of up to 32 MiB (L1) or 64 MiB (snapshot table, bitmap directory);
   * nothing is allocated from a field before it is bounded by the file, so what a case allocates
   * is proportional to the file plus a few hundred bytes per snapshot entry (at most 65536). A
   * single allocation sized from an unchecked field would blow this.
   */
  private static final long MAX_ALLOCATED_PER_CASE = 64L << 20;

  private static volatile long maxAllocated;

  /**
   * Bytes allocated so far by the calling thread (HotSpot's per-thread counter), 0 where it is
   * missing. Reflective: the tests compile inside the module, which does not read
   * java.management.
   */
  private static long allocatedBytes() {
    try {
      return (Long) ALLOCATED_BYTES.invoke(THREADS);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return 0;
    }
  }

  private static final Object THREADS;
  private static final java.lang.reflect.Method ALLOCATED_BYTES;

  static {
    Object threads = null;
    java.lang.reflect.Method allocated = null;
    try {
      threads = Class.forName("java.lang.management.ManagementFactory")
          .getMethod("getThreadMXBean").invoke(null);
      allocated = Class.forName("com.sun.management.ThreadMXBean")
          .getMethod("getCurrentThreadAllocatedBytes");
    } catch (ReflectiveOperationException | RuntimeException e) {
      // not HotSpot: allocation is not measured
    }
    THREADS = threads;
    ALLOCATED_BYTES = allocated;
  }

  /** What a case runs: returns whether a typed error ended it. */
  interface Action {
    boolean run(Path image) throws IOException;
  }

  private void fuzz(String name, Action action) throws IOException {
    maxAllocated = 0;
    Path image = dir.resolve(name.replace('+', '-') + ".qcow2");
    List<String> failures = new ArrayList<>();
    long start = System.nanoTime();
    int typedErrors = 0;
    int reports = 0;
    for (int c = 0; c < CASES; c++) {
      Random random = new Random(SEED * 31 + c);
      Base base = bases.get(random.nextInt(bases.size()));
      byte[] bytes = base.bytes().clone();
      StringBuilder what = new StringBuilder(base.name());
      int mutations = 1 + random.nextInt(3);
      for (int m = 0; m < mutations; m++) {
        what.append("; ").append(mutate(bytes, base.layout(), random));
      }
      Files.write(image, bytes);
      final int number = c;
      try {
        boolean typed = assertTimeoutPreemptively(Duration.ofSeconds(10),
            () -> {
              long before = allocatedBytes();
              try {
                return action.run(image);
              } catch (Qcow2Exception e) {
                return true;
              } catch (IOException e) {
                throw new AssertionError("untyped IOException: " + e, e);
              } finally {
                long allocated = allocatedBytes() - before;
                if (allocated > MAX_ALLOCATED_PER_CASE) {
                  throw new AssertionError("allocated " + allocated + " bytes");
                }
                maxAllocated = Math.max(maxAllocated, allocated);
              }
            }, () -> "case " + number + " hung: " + what);
        if (typed) {
          typedErrors++;
        } else {
          reports++;
        }
      } catch (AssertionError | RuntimeException | OutOfMemoryError e) {
        String failure = "case " + c + " (" + what + "): " + e + " at " + where(e);
        failures.add(failure);
        save(name, c, bytes, failure, e);
        if (failures.size() >= Integer.getInteger("fuzz.maxFailures", 20)) {
          break;
        }
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.printf("MutationFuzzTest %s: %d cases, %d completed, %d typed errors, %.1f s, "
        + "at most %d bytes allocated by a case, seed %d%n", name, CASES, reports, typedErrors,
        seconds, maxAllocated, SEED);
    if (!failures.isEmpty()) {
      fail(failures.size() + " failing cases (seed " + SEED + "):\n" + String.join("\n", failures));
    }
    assertTrue(reports > 0 && typedErrors > 0, "the mutations should produce both outcomes");
  }

  /** The first stack frame in our code, for the failure summary. */
  private static String where(Throwable e) {
    Throwable cause = e.getCause() != null && e instanceof AssertionError ? e.getCause() : e;
    for (StackTraceElement frame : cause.getStackTrace()) {
      if (frame.getClassName().startsWith("io.qcow2") && !frame.getClassName().contains("Test")) {
        return frame.toString();
      }
    }
    return "?";
  }

  private static boolean openAndRead(Path image) throws IOException {
    try (Qcow2Image opened = Qcow2Image.open(image, Map.of("overlap-check", "all"), false)) {
      long size = Math.min(opened.virtualSize(), MAX_READ);
      byte[] buffer = new byte[64 << 10];
      for (long offset = 0; offset < size; offset += buffer.length) {
        opened.read(offset, buffer, 0, (int) Math.min(buffer.length, size - offset));
      }
      Optional<OverlapChecker> checker = opened.overlapChecker();
      if (checker.isPresent()) {
        long clusterSize = opened.clusterSize();
        for (long offset = 0; offset < Files.size(image); offset += clusterSize) {
          checker.get().check(offset, clusterSize, 0);
        }
      }
    }
    return false;
  }

  private static boolean openAndWrite(Path image) throws IOException {
    long sizeBefore = Files.size(image);
    try {
      return writeSome(image);
    } finally {
      long grown = Files.size(image) - sizeBefore;
      if (grown > MAX_GROWTH) {
        throw new AssertionError("image file grew by " + grown + " bytes");
      }
    }
  }

  /** The writes below need a few clusters and tables; a pointer followed past the end needs more. */
  private static final long MAX_GROWTH = 16L << 20;

  private static boolean writeSome(Path image) throws IOException {
    try (Qcow2Image opened = Qcow2Image.open(image, Map.of("overlap-check", "all"), true)) {
      long size = opened.virtualSize();
      int cluster = opened.clusterSize();
      byte[] data = new byte[cluster + 1024];
      Arrays.fill(data, (byte) 0x5a);
      for (long offset : new long[] {0, size / 2, size - data.length}) {
        if (offset >= 0 && offset + data.length <= size) {
          opened.write(offset, data, 0, data.length);
        }
      }
      if (size >= 2L * cluster) {
        opened.writeZeroes(cluster, cluster);
        opened.discard(0, cluster);
      }
      opened.createSnapshot("fuzz");
      opened.write(0, data, 0, Math.min(data.length, (int) Math.min(size, data.length)));
      List<SnapshotInfo> snapshots = opened.listSnapshots();
      opened.applySnapshot(snapshots.get(0).id());
      opened.deleteSnapshot("fuzz");
      opened.flush();
    }
    return false;
  }

  static List<Base> bases(Path dir) throws IOException {
    List<Base> bases = new ArrayList<>();
    Path a = QemuTools.create(dir.resolve("a.qcow2"), "cluster_size=512,refcount_bits=16", "1M");
    QemuTools.io(a, "write -P 0x11 0 6k", "write -P 0x12 700k 1k");
    QemuTools.snapshot(a, "one");
    QemuTools.io(a, "write -P 0x13 1k 2k", "write -z 300k 4k");
    QemuTools.snapshot(a, "two");
    bases.add(base("c512-rc16-2snapshots", a));

    Path b = QemuTools.create(dir.resolve("b.qcow2"), "cluster_size=4096,compat=0.10", "2M");
    QemuTools.io(b, "write -P 0x21 0 20k", "write -P 0x22 1M 8k");
    QemuTools.snapshot(b, "old");
    QemuTools.io(b, "write -P 0x23 4k 4k");
    bases.add(base("c4k-v2-snapshot", b));

    Path source = QemuTools.create(dir.resolve("src.qcow2"), "cluster_size=2048", "1M");
    QemuTools.io(source, "write -P 0x31 0 16k", "write -P 0x32 512k 6k");
    Path c = dir.resolve("c.qcow2");
    QemuTools.run("qemu-img", "convert", "-c", "-O", "qcow2", "-o",
        "cluster_size=2048,refcount_bits=1", source.toString(), c.toString());
    bases.add(base("c2k-rc1-compressed", c));

    Path d = QemuTools.create(dir.resolve("d.qcow2"), "cluster_size=1024,refcount_bits=8", "1M");
    QemuTools.io(d, "write -P 0x41 0 8k");
    QemuTools.run("qemu-img", "bitmap", "--add", "-g", "1024", d.toString(), "dirty");
    QemuTools.io(d, "write -P 0x42 512k 3k");
    bases.add(base("c1k-rc8-bitmap", d));
    return bases;
  }

  private static Base base(String name, Path image) throws IOException {
    return new Base(name, Files.readAllBytes(image), new TestImages.Layout(image));
  }

  private static final int[] HEADER_FIELDS_8 = {8, 24, 40, 48, 64, 72, 80, 88};
  private static final int[] HEADER_FIELDS_4 = {4, 16, 20, 32, 36, 56, 60, 96, 100};

  /** Applies one random mutation to {@code bytes}; returns what it did. */
  static String mutate(byte[] bytes, TestImages.Layout layout, Random random)
      throws IOException {
    ByteBuffer b = ByteBuffer.wrap(bytes);
    long clusterSize = layout.clusterSize();
    switch (random.nextInt(8)) {
      case 0: {
        int offset = random.nextInt((int) Math.min(bytes.length, clusterSize));
        bytes[offset] = (byte) random.nextInt(256);
        return "header byte " + offset;
      }
      case 1: {
        int field = HEADER_FIELDS_8[random.nextInt(HEADER_FIELDS_8.length)];
        long value = interesting(random, bytes.length, clusterSize);
        b.putLong(field, value);
        return "header u64 @" + field + " := " + value;
      }
      case 2: {
        int field = HEADER_FIELDS_4[random.nextInt(HEADER_FIELDS_4.length)];
        int value = (int) interesting(random, bytes.length, clusterSize);
        b.putInt(field, value);
        return "header u32 @" + field + " := " + value;
      }
      case 3:
        return entry(b, layout.l1Offset, layout.l1Size, "L1", random, bytes.length, clusterSize);
      case 4: {
        long l1 = b.getLong((int) layout.l1Offset) & 0x00ff_ffff_ffff_fe00L;
        return entry(b, l1, (int) (clusterSize / 8), "L2", random, bytes.length, clusterSize);
      }
      case 5:
        return entry(b, layout.refcountTableOffset, (int) (clusterSize / 8), "reftable", random,
            bytes.length, clusterSize);
      case 6: {
        long block = b.getLong((int) layout.refcountTableOffset) & ~511L;
        if (block <= 0 || block >= bytes.length) {
          return "no refblock";
        }
        int offset = (int) (block + random.nextInt((int) Math.min(clusterSize, bytes.length - block)));
        bytes[offset] = (byte) random.nextInt(256);
        return "refblock byte " + offset;
      }
      default: {
        if (layout.snapshotCount == 0 || layout.snapshotsOffset >= bytes.length) {
          return "no snapshot table";
        }
        int offset = (int) layout.snapshotsOffset
            + random.nextInt((int) Math.min(128, bytes.length - layout.snapshotsOffset));
        bytes[offset] = random.nextBoolean() ? (byte) random.nextInt(256) : (byte) 0xff;
        return "snapshot table byte " + offset;
      }
    }
  }

  private static String entry(ByteBuffer b, long table, int entries, String name, Random random,
      long fileLength, long clusterSize) {
    if (table <= 0 || entries <= 0 || table + 8 > b.capacity()) {
      return "no " + name;
    }
    int count = (int) Math.min(entries, (b.capacity() - table) / 8);
    int index = random.nextInt(Math.max(1, Math.min(count, 64)));
    long value = random.nextInt(4) == 0
        ? b.getLong((int) (table + index * 8L)) ^ (1L << random.nextInt(64))
        : interesting(random, fileLength, clusterSize);
    b.putLong((int) (table + index * 8L), value);
    return name + "[" + index + "] := 0x" + Long.toHexString(value);
  }

  private static long interesting(Random random, long fileLength, long clusterSize) {
    switch (random.nextInt(9)) {
      case 0: return 0;
      case 1: return -1;
      case 2: return 1L << random.nextInt(63);
      case 3: return fileLength;
      case 4: return (fileLength & ~(clusterSize - 1)) + clusterSize * random.nextInt(4);
      case 5: return clusterSize * random.nextInt(64) + (random.nextBoolean() ? 0 : 512);
      case 6: return (1L << 63) | (clusterSize * random.nextInt(64));
      case 7: return Integer.MAX_VALUE;
      default: return random.nextLong();
    }
  }

  private static void save(String name, int c, byte[] bytes, String failure, Throwable e) {
    try {
      Path out = Paths.get("target", "fuzz-failures");
      Files.createDirectories(out);
      Files.write(out.resolve(name.replace('+', '-') + "-case-" + c + ".qcow2"), bytes);
      java.io.StringWriter trace = new java.io.StringWriter();
      e.printStackTrace(new java.io.PrintWriter(trace));
      Files.writeString(out.resolve(name.replace('+', '-') + "-case-" + c + ".txt"), failure + "\n" + trace);
    } catch (IOException ignored) {
      // best effort: the failure message has the seed and case number
    }
  }
}
