package io.qcow2.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * W1 run by the machine's own {@code qemu-img}, measured in the same report run, as an outside
 * reference, on the same tmpfs as the benchmarks: {@code qemu-img create -f qcow2 -o preallocation=metadata,cluster_size=512}. Its time
 * includes starting the process (a few ms), and QEMU's overlap check there is its own (the cost
 * the series set out to remove); it is labelled so in every table.
 */
final class OutsideReference {
  static final String LABEL_PREFIX = "qemu-img";
  private static final int WARMUP = 1;
  private static final int RUNS = 5;
  /** Student's t for 99.9 % two-sided with RUNS - 1 = 4 degrees of freedom, as JMH reports. */
  private static final double T_4 = 8.610;

  private OutsideReference() {}

  /** The strategy column's label, e.g. {@code qemu-img 7.2.0 (outside reference, ...)}. */
  static String label(String version) {
    String number = version.replaceAll(".*version\\s+([0-9.]+).*", "$1");
    return LABEL_PREFIX + " " + number + " (outside reference, incl. process start)";
  }

  /** Times W1 with qemu-img for every w1MiB in {@code results}; empty without qemu-img. */
  static List<BenchResult> measureW1(List<BenchResult> results)
      throws IOException, InterruptedException {
    String version = QemuImg.version();
    List<BenchResult> out = new ArrayList<>();
    if (version == null) {
      return out;
    }
    List<String> sizes = new ArrayList<>();
    for (BenchResult r : results) {
      String size = r.params().get("w1MiB");
      if (r.benchmark().endsWith(".w1CreatePreallocated") && size != null && !sizes.contains(size)) {
        sizes.add(size);
      }
    }
    Path dir = Scratch.newDirectory();
    for (String size : sizes) {
      Path file = dir.resolve("qemu-w1.qcow2");
      double[] ms = new double[RUNS];
      for (int i = -WARMUP; i < RUNS; i++) {
        Files.deleteIfExists(file);
        long start = System.nanoTime();
        QemuImg.run("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata,cluster_size=512",
            file.toString(), size + "M");
        if (i >= 0) {
          ms[i] = (System.nanoTime() - start) / 1e6;
        }
      }
      Files.deleteIfExists(file);
      double mean = 0;
      for (double v : ms) {
        mean += v / RUNS;
      }
      double var = 0;
      for (double v : ms) {
        var += (v - mean) * (v - mean) / (RUNS - 1);
      }
      out.add(new BenchResult("io.qcow2.bench.ImageWorkloadBenchmark.w1CreatePreallocated", "ss",
          Map.of(BenchResult.STRATEGY, label(version), "w1MiB", size), mean,
          T_4 * Math.sqrt(var / RUNS), "ms/op"));
    }
    Scratch.delete(dir);
    return out;
  }
}
