package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckers;
import io.qcow2.overlap.tck.StrategyJar;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13's proof that a strategy is a jar: a small strategy compiled here against the overlap-api
 * classes only, packaged with {@code META-INF/services} and dropped into a directory, is listed by
 * {@code qcow2 strategies --strategy-path DIR}, protects {@code create} and {@code io} writes with
 * {@code --overlap-strategy NAME --strategy-path DIR}, passes the runnable conformance kit (a
 * deliberately wrong variant fails it), and is in the benchmark runner's strategy list, with no
 * file of the project changed.
 */
class OutsideStrategyJarTest {
  private static final String NAME = "outside-interval";
  private static final String BROKEN_NAME = "outside-off-by-one";
  private static final String PROVIDER = "outside.interval.IntervalProvider";

  @TempDir Path tmp;
  private Path strategies;
  private Path broken;
  private final String savedPath = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);

  record Run(int status, String out, String err) {}

  @BeforeEach
  void buildJars() throws IOException {
    strategies = Files.createDirectory(tmp.resolve("strategies"));
    broken = Files.createDirectory(tmp.resolve("broken"));
    intervalJar(strategies, NAME, false);
    intervalJar(broken, BROKEN_NAME, true);
  }

  @AfterEach
  void restoreProperty() {
    if (savedPath == null) {
      System.clearProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    } else {
      System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, savedPath);
    }
  }

  private static void intervalJar(Path dir, String name, boolean wrong) throws IOException {
    String source;
    try (InputStream in = OutsideStrategyJarTest.class.getResourceAsStream("IntervalProvider.java.txt")) {
      source = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    source = source.replace("@NAME@", name).replace("@BROKEN@", Boolean.toString(wrong));
    StrategyJar.build(dir.resolve(name + ".jar"), Map.of(PROVIDER, source), List.of(PROVIDER));
  }

  /** {@code java -jar qcow2-cli/target/qcow2.jar ARGS}, the CLI as users run it. */
  private Run qcow2(String... args) throws IOException, InterruptedException {
    return javaJar(Path.of("..", "qcow2-cli", "target", "qcow2.jar"), args);
  }

  /** {@code java -jar overlap-tck/target/overlap-tck.jar ARGS}, the runnable kit. */
  private Run kit(String... args) throws IOException, InterruptedException {
    return javaJar(Path.of("..", "overlap-tck", "target", "overlap-tck.jar"), args);
  }

  /** The reactor packages both jars before bench's tests run ({@code mvn verify}). */
  private Run javaJar(Path jar, String... args) throws IOException, InterruptedException {
    assertTrue(Files.isRegularFile(jar), jar.toAbsolutePath() + " is missing: build with mvn verify"
        + " from the reactor root");
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar.toString()));
    command.addAll(List.of(args));
    Path out = Files.createTempFile(tmp, "out", ".txt");
    Path err = Files.createTempFile(tmp, "err", ".txt");
    Process process = new ProcessBuilder(command).redirectOutput(out.toFile())
        .redirectError(err.toFile()).start();
    int status = process.waitFor();
    return new Run(status, Files.readString(out), Files.readString(err));
  }

  private static String lastLine(String text) {
    List<String> lines = text.lines().toList();
    return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
  }

  @Test
  void strategiesListsTheLoadedJarBesideTheBuiltInOnes() throws Exception {
    Run plain = qcow2("strategies", "--strategy-path", strategies.toString());
    assertEquals(0, plain.status(), plain.toString());
    List<String> names = plain.out().lines().toList();
    assertTrue(names.containsAll(List.of("legacy", "windowed", NAME)), names.toString());
    assertTrue(names.stream().allMatch(n -> n.matches("[a-z][a-z0-9-]*")),
        "plain output is bare names only: " + names);
    assertFalse(qcow2("strategies").out().lines().toList().contains(NAME),
        "without the path the jar is not loaded");

    Run json = qcow2("strategies", "--strategy-path", strategies.toString(), "--output=json");
    assertEquals(0, json.status(), json.toString());
    assertTrue(json.out().contains("\"name\": \"" + NAME + "\""), json.out());
    assertTrue(json.out().contains(strategies.resolve(NAME + ".jar").toString()), json.out());
    assertTrue(json.out().contains("\"loaded\": true"), json.out());
    assertTrue(json.out().contains("\"name\": \"interval-knob\""), json.out());
  }

  @Test
  void createAndIoWritesAreProtectedByTheLoadedStrategy() throws Exception {
    Path image = tmp.resolve("disk.qcow2");
    Run create = qcow2("create", "--overlap-strategy", NAME, "--strategy-path", strategies.toString(),
        "--overlap-check", "all", "-O", "interval-knob=on",
        "-o", "cluster_size=4096,preallocation=metadata", image.toString(), "4M");
    assertEquals(0, create.status(), create.toString());
    Run write = qcow2("io", "--overlap-strategy", NAME, "--strategy-path", strategies.toString(),
        image.toString(), "-c", "write -P 0x3c 0 4k");
    assertEquals(0, write.status(), write.toString());

    Run unknownOption = qcow2("io", "--overlap-strategy", NAME, "--strategy-path",
        strategies.toString(), "-O", "overlap-window-size=8", image.toString(), "-c", "read 0 1");
    assertEquals(1, unknownOption.status(), unknownOption.toString());
    assertTrue(unknownOption.err().contains("strategy '" + NAME + "' also accepts interval-knob"),
        unknownOption.err());

    // Guest cluster 0's L2 entry now points at the L1 table: a write through it lands on metadata.
    long l1;
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      l1 = readLong(file, 40);
      long l2 = readLong(file, l1) & MetadataView.L1_OFFSET_MASK;
      ByteBuffer entry = ByteBuffer.allocate(8).putLong(0, l1 | (1L << 63));
      file.write(entry, l2);
    }
    Run refused = qcow2("io", "--overlap-strategy", NAME, "--strategy-path", strategies.toString(),
        image.toString(), "-c", "write -P 1 512 4");
    assertEquals(1, refused.status(), refused.toString());
    assertTrue(refused.err().startsWith("qcow2: Preventing invalid write on metadata"), refused.err());
    assertTrue(refused.err().contains(String.format("offset 0x%x", l1 + 512)), refused.err());
  }

  @Test
  void theRunnableKitPassesTheStrategyAndFailsTheWrongVariant() throws Exception {
    Run pass = kit("--strategy-path", strategies.toString(), "--strategy", NAME,
        "--operations", "20000", "--failure-dir", tmp.toString());
    assertEquals(0, pass.status(), pass.out() + pass.err());
    assertTrue(lastLine(pass.out()).matches("\\d+ passed, 0 failed"), pass.out());

    Run fail = kit("--strategy-path", broken.toString(), "--strategy", BROKEN_NAME,
        "--operations", "20000", "--failure-dir", tmp.toString());
    assertEquals(1, fail.status(), fail.out() + fail.err());
    assertTrue(lastLine(fail.out()).matches("\\d+ passed, [1-9]\\d* failed"), fail.out());
  }

  @Test
  void theBenchmarkRunnerListsTheStrategy() {
    SuiteRunner.Selection all = new SuiteRunner.Selection(Profile.QUICK, null, null, null);
    assertFalse(SuiteRunner.strategies(all).contains(NAME));
    System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, strategies.toString());
    List<String> wanted = SuiteRunner.strategies(all);
    assertTrue(wanted.containsAll(List.of(Strategies.NONE, "legacy", "windowed", NAME)),
        wanted.toString());
    assertTrue(Strategies.create(NAME, 16, MetadataView.EMPTY, Map.of()) != null);
  }

  /** One short forked JMH run: the fork finds the loaded strategy through the strategy path. */
  @Test
  void aForkedBenchmarkRunMeasuresTheLoadedStrategy() throws Exception {
    runLoadedStrategy("CheckLatencyBenchmark",
        Map.of("structures", new String[] {"1000"}, "writeBytes", new String[] {"512"}));
  }

  /**
   * A macro workload with the loaded strategy gets the report's paired passes like a built-in one
   * (its share takes out the probe's in-situ floor): the strategy path once replaced the forks'
   * other properties, and outside strategies were measured with the tight-loop calibration only.
   */
  @Test
  void aForkedMacroRunOfTheLoadedStrategyHasThePairedPasses() throws Exception {
    BenchResult result = runLoadedStrategy("w3RandomWrites",
        Map.of("w3MiB", new String[] {"1"}, "w3Writes", new String[] {"200"}));
    assertTrue(result.secondary().containsKey(ProbeProfiler.FLOOR),
        "the floor pass ran: " + result.secondary().keySet());
  }

  /** Runs the benchmarks {@code pattern} finds, forked, for the loaded strategy alone. */
  private BenchResult runLoadedStrategy(String pattern, Map<String, String[]> params)
      throws Exception {
    System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, strategies.toString());
    Path json = tmp.resolve(pattern + ".json");
    List<String> warnings = SuiteRunner.run(new SuiteRunner.Selection(Profile.QUICK,
        Pattern.compile(pattern), List.of(NAME), params), tmp.resolve(pattern), json);
    assertEquals(List.of(), warnings);
    List<BenchResult> results = BenchResult.readJmhJson(json);
    assertEquals(1, results.size(), results.toString());
    assertEquals(NAME, results.get(0).strategy());
    return results.get(0);
  }

  private static long readLong(FileChannel file, long offset) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(8);
    file.read(buffer, offset);
    return buffer.getLong(0);
  }
}
