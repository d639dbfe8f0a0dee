package io.qcow2.bench;

import io.qcow2.format.Qcow2Image;
import io.qcow2.overlap.OverlapCheckOptions;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The series' macro workloads, scaled to run in seconds, through the qcow2 engine on real files
 * (in {@code /dev/shm} when it exists, as the series used tmpfs; else {@code java.io.tmpdir}). Each
 * operation is one whole workload, timed once (single shot); the report sets every strategy's time
 * against {@code none} (overlap-check=none: no checker at all) of the same run to get the share of
 * time spent in overlap checking.
 *
 * <ul>
 *   <li>W1 {@link #w1CreatePreallocated}: {@code create} with preallocation=metadata and 512-byte
 *       clusters, {@code w1MiB} of guest size (series: 2 GiB with qemu-img);
 *   <li>W2 {@link #w2SequentialWrites}: sequential 64 KiB guest writes over a fresh image with the
 *       default 64 KiB clusters, {@code w2MiB} of them (series: a dd loop in a guest);
 *   <li>W3 {@link #w3RandomWrites}: {@code w3Writes} random 512-byte writes into a
 *       metadata-preallocated image of {@code w3MiB} with 512-byte clusters (series: O_DIRECT
 *       random writes in a guest);
 *   <li>W4 {@link #w4SnapshotWrites}: {@code w4Writes} random 4 KiB writes with overlap-check=all
 *       into a 4 KiB-cluster image of {@code w4MiB} that has {@code w4Snapshots} internal snapshots
 *       made by {@code qemu-img snapshot -c}; the writes copy shared clusters and L2 tables, and the
 *       legacy strategy rereads every snapshot's L1 table from the file on every check.
 * </ul>
 *
 * W1-W3 use QEMU's default overlap-check=cached. Run: {@code java -jar bench/target/benchmarks.jar
 * ImageWorkloadBenchmark -p w1MiB=256}.
 *
 * <p>With the system property {@value #PAIRED_NONE_PROPERTY}{@code =true} (the report sets it), the
 * setup of every iteration of a strategy other than {@code none} first runs the same
 * workload with overlap-check=none in the same JVM and hands its thread CPU time to {@link
 * CheckProbe#stopReference}: the share against {@code none} then comes from pairs measured
 * back to back on the same compiled code, not from two forks that drift apart. The setup then runs
 * the floor pass ({@link CheckProbe#startFloor}): the same workload through the probe around a
 * checker that does nothing, whose per-call interval the iteration takes out of its direct share.
 */
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, batchSize = 1)
@Measurement(iterations = 5, batchSize = 1)
// A fixed heap, every page of it touched at start: otherwise G1 moves eden into pages never touched
// before now and then, and the workload thread pays their page faults in kernel CPU time (20 000
// faults, ~40 ms, in one W1 iteration of ~120 ms), which made its time bimodal (bench/README.md).
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
public class ImageWorkloadBenchmark {
  /** System property: run a paired overlap-check=none pass before every iteration. */
  static final String PAIRED_NONE_PROPERTY = "qcow2.bench.paired-none";

  private static final Map<String, String> NONE =
      Map.of(OverlapCheckOptions.OVERLAP_CHECK, "none");

  /** The strategy, as open options, and a scratch directory on tmpfs where there is one. */
  @State(Scope.Benchmark)
  public static class Strategy {
    @Param(Strategies.FOUND_AT_RUN_TIME) // the runner passes Strategies.names()
    public String strategy;

    Path dir;
    boolean pairedNone;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
      dir = Scratch.newDirectory();
      pairedNone = Boolean.getBoolean(PAIRED_NONE_PROPERTY);
    }

    /**
     * Whether each iteration's setup runs the paired none pass; in warm-up iterations too, so that
     * the JIT has compiled the path without checks before it is measured.
     */
    boolean pairedNonePass() {
      return pairedNone && !strategy.equals(Strategies.NONE);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
      Scratch.delete(dir);
    }

    /** Open options selecting this strategy with the given overlap-check template. */
    Map<String, String> openOptions(String template) {
      if (strategy.equals(Strategies.NONE)) {
        return NONE;
      }
      // The strategy, with every call into it timed for the direct overlap share.
      return probed(template, ProbeProvider.select(strategy));
    }

    /** Open options for the floor pass: the probe around a checker that does nothing. */
    Map<String, String> floorOptions(String template) {
      return probed(template, ProbeProvider.selectFloor());
    }

    /**
     * The paired passes, when on (see {@link #pairedNonePass}): {@code work} on an image {@code
     * open} prepares untimed, first with checks off (the probe's reference), then through the
     * probe around a checker that does nothing (the floor), with the overlap-check {@code
     * template}.
     */
    void pairedPasses(String template, PassOpener open, PassWork work) throws IOException {
      if (!pairedNonePass()) {
        return;
      }
      try (Qcow2Image none = open.open(NONE)) {
        CheckProbe.startReference();
        work.run(none);
        CheckProbe.stopReference();
      }
      try (Qcow2Image floor = open.open(floorOptions(template))) {
        CheckProbe.startFloor();
        work.run(floor);
        CheckProbe.stop();
      }
    }

    private static Map<String, String> probed(String template, String probe) {
      Map<String, String> options = new HashMap<>();
      options.put(OverlapCheckOptions.OVERLAP_CHECK, template);
      options.put(OverlapCheckers.STRATEGY_OPTION, probe);
      return options;
    }
  }

  /** Opens the image a paired pass writes, with these open options. */
  interface PassOpener {
    Qcow2Image open(Map<String, String> options) throws IOException;
  }

  /** The timed part of a paired pass. */
  interface PassWork {
    void run(Qcow2Image image) throws IOException;
  }

  /** W1's image size. */
  @State(Scope.Benchmark)
  public static class W1 {
    @Param({"64"})
    public int w1MiB;

    Path file;

    @Setup(Level.Iteration)
    public void setUp(Strategy s) throws IOException {
      file = s.dir.resolve("w1.qcow2");
      Files.deleteIfExists(file);
      if (s.pairedNonePass()) {
        CheckProbe.startReference();
        create(file, w1MiB, NONE);
        CheckProbe.stopReference();
        Files.delete(file);
        Map<String, String> floor = s.floorOptions("cached");
        CheckProbe.startFloor();
        create(file, w1MiB, floor);
        CheckProbe.stop();
        Files.delete(file);
      }
    }

    static void create(Path file, int mib, Map<String, String> options) throws IOException {
      try (Qcow2Image image = Qcow2Image.create(file, (long) mib << 20,
          Map.of("cluster_size", "512", "preallocation", "metadata"), options)) {
        image.flush();
      }
    }
  }

  /** W1: create a metadata-preallocated image with 512-byte clusters; returns its file size. */
  @Benchmark
  public long w1CreatePreallocated(Strategy s, W1 w) throws IOException {
    Map<String, String> options = s.openOptions("cached");
    CheckProbe.start();
    W1.create(w.file, w.w1MiB, options);
    CheckProbe.stop();
    return Files.size(w.file);
  }

  /** W2's amount of data, written to a fresh image each iteration. */
  @State(Scope.Benchmark)
  public static class W2 {
    @Param({"64"})
    public int w2MiB;

    Qcow2Image image;
    final byte[] chunk = new byte[64 << 10];

    @Setup(Level.Iteration)
    public void setUp(Strategy s) throws IOException {
      new SplittableRandom(2).nextBytes(chunk);
      Path file = s.dir.resolve("w2.qcow2");
      s.pairedPasses("cached", options -> fresh(file, options), this::write);
      image = fresh(file, s.openOptions("cached"));
    }

    private Qcow2Image fresh(Path file, Map<String, String> options) throws IOException {
      Files.deleteIfExists(file);
      Qcow2Image.create(file, (long) w2MiB << 20, Map.of(), Map.of()).close();
      return Qcow2Image.open(file, options, true);
    }

    /** Sequential 64 KiB writes over the whole image, then a flush. */
    void write(Qcow2Image target) throws IOException {
      long size = (long) w2MiB << 20;
      for (long offset = 0; offset < size; offset += chunk.length) {
        target.write(offset, chunk, 0, chunk.length);
      }
      target.flush();
    }

    @TearDown(Level.Iteration)
    public void tearDown() throws IOException {
      image.close();
    }
  }

  /** W2: sequential 64 KiB writes over the whole fresh image, then a flush. */
  @Benchmark
  public long w2SequentialWrites(W2 w) throws IOException {
    CheckProbe.start();
    w.write(w.image);
    CheckProbe.stop();
    return (long) w.w2MiB << 20;
  }

  /** W3's preallocated image (made once) and its random targets. */
  @State(Scope.Benchmark)
  public static class W3 {
    @Param({"64"})
    public int w3MiB;

    @Param({"20000"})
    public int w3Writes;

    Path file;
    long[] targets;
    Qcow2Image image;
    final byte[] sector = new byte[512];

    @Setup(Level.Trial)
    public void setUpTrial(Strategy s) throws IOException {
      file = s.dir.resolve("w3.qcow2");
      Qcow2Image.create(file, (long) w3MiB << 20,
          Map.of("cluster_size", "512", "preallocation", "metadata"), Map.of()).close();
      SplittableRandom random = new SplittableRandom(3);
      targets = new long[w3Writes];
      long sectors = (long) w3MiB << 11;
      for (int i = 0; i < w3Writes; i++) {
        targets[i] = random.nextLong(sectors) << 9;
      }
      random.nextBytes(sector);
    }

    @Setup(Level.Iteration)
    public void setUp(Strategy s) throws IOException {
      s.pairedPasses("cached", options -> Qcow2Image.open(file, options, true), this::write);
      image = Qcow2Image.open(file, s.openOptions("cached"), true);
    }

    @TearDown(Level.Iteration)
    public void tearDown() throws IOException {
      image.close();
    }

    /** The random writes, then a flush; returns the targets' sum. */
    long write(Qcow2Image target) throws IOException {
      long sum = 0;
      for (long offset : targets) {
        target.write(offset, sector, 0, sector.length);
        sum += offset;
      }
      target.flush();
      return sum;
    }
  }

  /** W3: random 512-byte writes into the preallocated image, then a flush. */
  @Benchmark
  public long w3RandomWrites(W3 w) throws IOException {
    CheckProbe.start();
    long sum = w.write(w.image);
    CheckProbe.stop();
    return sum;
  }

  /** W4's image with internal snapshots (made once with qemu-img), copied fresh each iteration. */
  @State(Scope.Benchmark)
  public static class W4 {
    @Param({"32"})
    public int w4MiB;

    @Param({"4"})
    public int w4Snapshots;

    @Param({"5000"})
    public int w4Writes;

    Path pristine;
    Path file;
    long[] targets;
    Qcow2Image image;
    final byte[] block = new byte[4096];

    @Setup(Level.Trial)
    public void setUpTrial(Strategy s) throws IOException, InterruptedException {
      pristine = s.dir.resolve("w4-pristine.qcow2");
      file = s.dir.resolve("w4.qcow2");
      long size = (long) w4MiB << 20;
      byte[] data = new byte[256 << 10];
      new SplittableRandom(4).nextBytes(data);
      try (Qcow2Image image = Qcow2Image.create(pristine, size, Map.of("cluster_size", "4096"),
          Map.of())) {
        for (long offset = 0; offset < size; offset += data.length) {
          image.write(offset, data, 0, (int) Math.min(data.length, size - offset));
        }
      }
      for (int i = 1; i <= w4Snapshots; i++) {
        QemuImg.run("snapshot", "-c", "snap" + i, pristine.toString());
      }
      SplittableRandom random = new SplittableRandom(44);
      targets = new long[w4Writes];
      for (int i = 0; i < w4Writes; i++) {
        targets[i] = random.nextLong(size >>> 12) << 12;
      }
      random.nextBytes(block);
    }

    @Setup(Level.Iteration)
    public void setUp(Strategy s) throws IOException {
      s.pairedPasses("all", this::fresh, this::write);
      image = fresh(s.openOptions("all"));
    }

    private Qcow2Image fresh(Map<String, String> options) throws IOException {
      Files.copy(pristine, file, StandardCopyOption.REPLACE_EXISTING);
      return Qcow2Image.open(file, options, true);
    }

    @TearDown(Level.Iteration)
    public void tearDown() throws IOException {
      image.close();
    }

    /** The random writes, then a flush; returns the targets' sum. */
    long write(Qcow2Image target) throws IOException {
      long sum = 0;
      for (long offset : targets) {
        target.write(offset, block, 0, block.length);
        sum += offset;
      }
      target.flush();
      return sum;
    }
  }

  /** W4: random 4 KiB writes with overlap-check=all into the image with snapshots, then a flush. */
  @Benchmark
  public long w4SnapshotWrites(W4 w) throws IOException {
    CheckProbe.start();
    long sum = w.write(w.image);
    CheckProbe.stop();
    return sum;
  }
}
