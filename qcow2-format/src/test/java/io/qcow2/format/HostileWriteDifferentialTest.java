package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile images against QEMU: a pointer of a small real image (an L1 or L2 entry, a refcount
 * table entry, a snapshot's or the header's L1 offset) is pointed at one of its metadata clusters,
 * or metadata refcounts are cleared, and one guest write follows, through qemu-io on one copy and
 * through the engine with every strategy on the class path on others (a write, zero write,
 * discard, compressed write, or a snapshot's creation, application or deletion). Every strategy must reach
 * the same verdict (written, or the same typed error), and where QEMU refuses the write as an
 * overlap with metadata, so must we: a pointer QEMU follows into metadata is one we follow too.
 * Four exceptions, where our path differs from QEMU's and is safe: a preallocated zero cluster is
 * replaced by a new one rather than written in place; a write that allocates after refcounts were
 * cleared may be handed other clusters (QEMU allocates a multi-cluster request contiguously);
 * a COPIED pointer at a cluster whose refcount is above 1 is copied on write, where QEMU trusts
 * the flag and writes in place (into a snapshot's table, which only overlap-check=all catches);
 * and a zero write or discard with nothing to change writes nothing. Snapshot operations write
 * only new clusters, where QEMU rewrites L2 tables in place; they must refuse where QEMU's
 * rewrite meets the damage (Snapshots.checkRewrites, RefcountShadow.checkFrees), except where
 * QEMU's rewrite meets a snapshot's L2 table ("overlaps with inactive L2 table"): with
 * overlap-check=all QEMU 7.2 refuses that even on undamaged images (deleting a snapshot whose
 * tables another snapshot shares), so those are held to agreement between the strategies.
 *
 * <p>Seeded: {@code -Dhostile.seed=N}, {@code -Dhostile.cases=N}; a failing case's image is
 * written to {@code target/hostile-failures/}.
 */
class HostileWriteDifferentialTest {
  private static final long SEED = Long.getLong("hostile.seed", 20261130L);
  private static final int CASES = Integer.getInteger("hostile.cases", 300);
  private static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

  enum Kind { L2_ENTRY, L2_ZERO, L1_ENTRY, REFCOUNT_CLEARED, REFCOUNT_TABLE_ENTRY, SNAPSHOT_L1, HEADER_L1 }

  record Base(String name, byte[] bytes, int clusterBits, TreeMap<Long, Integer> metadata) {}

  @TempDir static Path dir;
  private static List<Base> bases;

  @BeforeAll
  static void buildBases() throws IOException {
    QemuTools.assumeAvailable();
    bases = List.of(
        base("4k", 4096, "4M", "write -P 1 0 1M", "write -P 2 3M 64k"),
        base("512", 512, "1M", "write -P 1 0 64k", "write -P 3 512k 8k"),
        base("4k-snapshots", 4096, "4M", "write -P 1 0 1M", "snapshot", "write -P 4 256k 64k",
            "snapshot"),
        base("64k-snapshot", 65536, "64M", "write -P 1 0 4M", "snapshot", "write -P 2 1M 128k"));
  }

  private static Base base(String name, int clusterSize, String size, String... steps)
      throws IOException {
    Path img = dir.resolve("base-" + name + ".qcow2");
    QemuTools.create(img, "cluster_size=" + clusterSize, size);
    int snapshots = 0;
    for (String step : steps) {
      if (step.equals("snapshot")) {
        QemuTools.snapshot(img, "s" + ++snapshots);
      } else {
        QemuTools.ioMerged(img, step);
      }
    }
    int[] masks = ExpectedMetadata.masks(img, io.qcow2.overlap.MetadataType.ALL_MASK);
    TreeMap<Long, Integer> metadata = new TreeMap<>();
    for (int i = 0; i < masks.length; i++) {
      if (masks[i] != 0) {
        metadata.put((long) i, masks[i]);
      }
    }
    return new Base(name, Files.readAllBytes(img), ExpectedMetadata.clusterBits(img), metadata);
  }

  /** One hostile image and the write that follows. */
  /** The guest request made after the damage: qemu-io's command and the engine's call. */
  enum Request {
    WRITE("write -P 0x5a"), ZERO_WRITE("write -z"), DISCARD("discard"),
    COMPRESSED_WRITE("write -c -P 0x5a"), SNAPSHOT("snapshot -c hostile"),
    APPLY("snapshot -a s1"), DELETE("snapshot -d s1");

    /** Whether the request is a snapshot operation, which qemu-img runs and we hold to agreement. */
    boolean snapshotOperation() {
      return qemuIo.startsWith("snapshot");
    }

    final String qemuIo;

    Request(String qemuIo) {
      this.qemuIo = qemuIo;
    }
  }

  private record Case(int number, Base base, Kind kind, String change, byte[] image, long offset,
      int length, boolean all, boolean sharedCopied, Request request) {
    String describe() {
      return String.format("case %d (seed %d): %s image, %s, then %s%s with overlap-check=%s",
          number, SEED, base.name(), change, request.qemuIo,
          request.snapshotOperation() ? "" : " " + offset + " " + length, all ? "all" : "cached");
    }
  }

  @Test
  void everyStrategyAgreesAndRefusesWhereQemuFindsAnOverlap() throws IOException {
    Random random = new Random(SEED);
    List<String> failures = new ArrayList<>();
    int qemuOverlaps = 0;
    // Per request: cases, QEMU's overlap refusals, cases every strategy refused.
    Map<Request, int[]> tally = new TreeMap<>();
    for (int n = 0; n < CASES; n++) {
      Case c = mutate(n, bases.get(random.nextInt(bases.size())), random);
      String qemu = qemu(c);
      boolean qemuOverlap = qemu.contains("Preventing invalid write on metadata")
          || qemu.contains("Preventing invalid free");
      qemuOverlaps += qemuOverlap ? 1 : 0;
      Map<String, String> ours = new LinkedHashMap<>();
      for (String strategy : TestOptions.strategies()) {
        ours.put(strategy, ours(c, strategy));
      }
      String first = ours.values().iterator().next();
      int[] t = tally.computeIfAbsent(c.request(), k -> new int[3]);
      t[0]++;
      t[1] += qemuOverlap ? 1 : 0;
      t[2] += ours.values().stream().noneMatch(v -> v.equals("written") || v.equals("nothing to write"))
          ? 1 : 0;
      boolean agree = ours.values().stream().allMatch(first::equals);
      boolean sameCourse = c.request().snapshotOperation()
          ? !qemu.contains("overlaps with inactive L2 table")
          : c.kind() != Kind.L2_ZERO && c.kind() != Kind.REFCOUNT_CLEARED && !c.sharedCopied();
      // A zero write or discard that finds its clusters already reading as zeros writes nothing;
      // QEMU writes the zero flag or the entry anyway, and meets the damage.
      boolean missedOverlap = qemuOverlap && sameCourse && (ours.containsValue("written")
          || c.request() == Request.WRITE && ours.containsValue("nothing to write"));
      boolean untyped = ours.values().stream().anyMatch(v -> v.startsWith("untyped"));
      if (!agree || missedOverlap || untyped) {
        Path saved = Paths.get("target", "hostile-failures", "case-" + SEED + "-" + n + ".qcow2");
        Files.createDirectories(saved.getParent());
        Files.write(saved, c.image());
        failures.add(c.describe() + ": QEMU " + qemu.strip().replace('\n', ' ') + "; ours " + ours
            + (missedOverlap ? " (QEMU found an overlap we did not)" : "")
            + (agree ? "" : " (strategies disagree)") + "; image in " + saved);
      }
    }
    StringBuilder perRequest = new StringBuilder();
    tally.forEach((request, t) -> perRequest.append(String.format("; %s %d (QEMU overlaps %d, "
        + "ours refused %d)", request, t[0], t[1], t[2])));
    System.out.printf("HostileWriteDifferentialTest: %d cases (seed %d), QEMU refused %d as "
        + "overlaps, %d disagreements%s%n", CASES, SEED, qemuOverlaps, failures.size(), perRequest);
    if (!failures.isEmpty()) {
      fail(failures.size() + " of " + CASES + " cases:\n" + String.join("\n", failures));
    }
  }

  private static Case mutate(int number, Base base, Random random) {
    byte[] b = base.bytes().clone();
    ByteBuffer buf = ByteBuffer.wrap(b);
    int bits = base.clusterBits();
    int clusterSize = 1 << bits;
    long virtualSize = buf.getLong(24);
    int l1Size = buf.getInt(36);
    long l1Offset = buf.getLong(40);
    long refcountTable = buf.getLong(48);
    List<Long> metadata = new ArrayList<>(base.metadata().keySet());
    List<Long> l2Tables = new ArrayList<>();
    base.metadata().forEach((cluster, mask) -> {
      if ((mask & io.qcow2.overlap.MetadataType.ACTIVE_L2.mask()) != 0) {
        l2Tables.add(cluster);
      }
    });
    // Half the pointers go at another active L2 table: the structure entered most often, and the
    // one two L1 entries can share.
    List<Long> targets = random.nextBoolean() && !l2Tables.isEmpty() ? l2Tables : metadata;
    long target = targets.get(random.nextInt(targets.size())) << bits;
    long copied = random.nextInt(10) < 7 ? TableEntry.COPIED : 0;
    int l2Entries = clusterSize / 8;
    List<Integer> l1Used = new ArrayList<>();
    for (int i = 0; i < l1Size; i++) {
      if ((buf.getLong((int) l1Offset + 8 * i) & OFFSET_MASK) != 0) {
        l1Used.add(i);
      }
    }
    Kind kind = Kind.values()[random.nextInt(Kind.values().length)];
    if (kind == Kind.SNAPSHOT_L1 && buf.getInt(60) == 0) {
      kind = Kind.L2_ENTRY;
    }
    long offset = (random.nextLong() >>> 1) % (virtualSize >> 9) << 9;
    int length = 512 * (1 + random.nextInt(16));
    String change;
    switch (kind) {
      case L2_ENTRY:
      case L2_ZERO: {
        int i = l1Used.get(random.nextInt(l1Used.size()));
        long l2 = buf.getLong((int) l1Offset + 8 * i) & OFFSET_MASK;
        int j = random.nextInt((int) Math.min(l2Entries, (virtualSize >> bits) - (long) i * l2Entries));
        long zero = kind == Kind.L2_ZERO ? 1 : 0;
        buf.putLong((int) (l2 + 8L * j), target | copied | zero);
        long guest = ((long) i * l2Entries + j) << bits;
        offset = guest + 512L * random.nextInt(clusterSize / 512);
        length = (int) Math.min(length, guest + clusterSize - offset);
        change = String.format("L2 entry %d of L1 entry %d -> %s%s cluster 0x%x", j, i,
            kind == Kind.L2_ZERO ? "preallocated zero " : "", copied != 0 ? "COPIED " : "", target);
        break;
      }
      case L1_ENTRY: {
        int i = random.nextInt(l1Size);
        buf.putLong((int) l1Offset + 8 * i, target | copied);
        long clusters = Math.min(l2Entries, (virtualSize >> bits) - (long) i * l2Entries);
        offset = ((long) i * l2Entries + random.nextInt((int) clusters)) << bits;
        length = 512;
        change = String.format("L1 entry %d -> %scluster 0x%x", i, copied != 0 ? "COPIED " : "", target);
        break;
      }
      case REFCOUNT_CLEARED: {
        long refblock = buf.getLong((int) refcountTable);
        List<Long> cleared = new ArrayList<>();
        for (long cluster : metadata) {
          if (cluster < clusterSize / 2 && (cleared.isEmpty() || random.nextBoolean())) {
            buf.putShort((int) (refblock + 2 * cluster), (short) 0);
            cleared.add(cluster);
          }
        }
        change = "refcounts of metadata clusters " + cleared + " cleared";
        break;
      }
      case REFCOUNT_TABLE_ENTRY:
        if (random.nextInt(3) == 0) {
          target = 0; // cleared: every refcount of the first block reads 0
        }
        buf.putLong((int) refcountTable, target);
        change = String.format("refcount table entry 0 -> cluster 0x%x", target);
        break;
      case SNAPSHOT_L1:
        buf.putLong((int) buf.getLong(64), target);
        change = String.format("first snapshot's L1 table offset -> cluster 0x%x", target);
        break;
      default:
        buf.putLong(40, target);
        change = String.format("header's L1 table offset -> cluster 0x%x", target);
        length = 512;
    }
    length = (int) Math.min(length, virtualSize - offset);
    long refblock = ByteBuffer.wrap(base.bytes()).getLong((int) refcountTable);
    boolean shared = (target >> bits) < clusterSize / 2
        && ByteBuffer.wrap(base.bytes()).getShort((int) (refblock + 2 * (target >> bits))) > 1;
    boolean sharedCopied = copied != 0 && shared
        && (kind == Kind.L1_ENTRY || kind == Kind.L2_ENTRY || kind == Kind.L2_ZERO);
    int r = random.nextInt(10);
    Request request = r < 5 ? Request.WRITE : r < 6 ? Request.ZERO_WRITE : r < 7 ? Request.DISCARD
        : r < 9 ? Request.COMPRESSED_WRITE : Request.SNAPSHOT;
    if (buf.getInt(60) > 0 && random.nextInt(4) == 0) {
      request = random.nextBoolean() ? Request.APPLY : Request.DELETE;
    }
    if (request == Request.COMPRESSED_WRITE) {
      // qemu-io compresses whole clusters only: the cluster holding the offset.
      offset = offset >> bits << bits;
      length = clusterSize;
    }
    return new Case(number, base, kind, change, b, offset, length, random.nextInt(3) == 0,
        sharedCopied, request);
  }

  private static String qemu(Case c) throws IOException {
    Path copy = dir.resolve("qemu.qcow2");
    Files.write(copy, c.image());
    String options = "driver=qcow2,file.filename=" + copy + ",overlap-check="
        + (c.all() ? "all" : "cached");
    if (c.request().snapshotOperation()) {
      String[] words = c.request().qemuIo.split(" ");
      return QemuTools.execMerged("qemu-img", "snapshot", "--image-opts", words[1], words[2],
          options).stdout();
    }
    return QemuTools.execMerged("qemu-io", "--image-opts", "-c",
        c.request().qemuIo + " " + c.offset() + " " + c.length(),
        "driver=qcow2,file.filename=" + copy + ",overlap-check=" + (c.all() ? "all" : "cached"))
        .stdout();
  }

  /**
   * "written", "nothing to write" (the file is unchanged), the typed error's class, or
   * "untyped: ..." for anything a hostile image must not cause.
   */
  private static String ours(Case c, String strategy) throws IOException {
    Path copy = dir.resolve("ours.qcow2");
    Files.write(copy, c.image());
    byte[] data = new byte[c.length()];
    Arrays.fill(data, (byte) 0x5a);
    try (Qcow2Image image = Qcow2Image.open(copy,
        c.all() ? TestOptions.openAll(strategy) : TestOptions.open(strategy), true)) {
      switch (c.request()) {
        case WRITE -> image.write(c.offset(), data, 0, data.length);
        case ZERO_WRITE -> image.writeZeroes(c.offset(), c.length());
        case DISCARD -> image.discard(c.offset(), c.length());
        case COMPRESSED_WRITE -> image.writeCompressed(c.offset(), data, 0, data.length);
        case APPLY -> image.applySnapshot("s1");
        case DELETE -> image.deleteSnapshot("s1");
        default -> image.createSnapshot("hostile");
      }
    } catch (Qcow2Exception e) {
      return e.getClass().getSimpleName();
    } catch (RuntimeException | IOException e) {
      return "untyped: " + e;
    }
    return Arrays.equals(Files.readAllBytes(copy), c.image()) ? "nothing to write" : "written";
  }
}
