package io.qcow2.bench;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * QEMU itself running W1 and W3 in the same report run, on the same tmpfs, with the same image
 * and cluster sizes, once with {@code overlap-check=none} and once with {@code cached} (QEMU 7.2's
 * own overlap check: the cost the series set out to remove). Labelled "QEMU ... (outside
 * reference)" in every table; never a strategy of ours, never in the summary's shares.
 *
 * <ul>
 *   <li>W1: {@code qemu-io --image-opts driver=qcow2,file.filename=IMG,overlap-check=MODE -c
 *       'truncate -m metadata SIZE'} on a 0-byte image with 512-byte clusters ({@code qemu-img
 *       create} takes no overlap-check option; metadata preallocation by truncate does the same
 *       work);
 *   <li>W3: {@code qemu-img bench -w -d 1 -s 512 -S STRIDE -c WRITES -t writeback --image-opts ...}
 *       on a metadata-preallocated image with 512-byte clusters; bench has no random mode, so the
 *       stride is a large prime number of sectors, which visits the sectors in a scattered order
 *       (writeback because tmpfs has no O_DIRECT).
 * </ul>
 *
 * Times include starting the process (a few ms).
 */
final class OutsideReference {
  /** Starts every outside label; a strategy name cannot (names are lower case). */
  static final String LABEL_PREFIX = "QEMU ";
  static final List<String> MODES = List.of("none", "cached");
  private static final int RUNS = 5;
  /** Student's t for 99.9 % two-sided with RUNS - 1 = 4 degrees of freedom, as JMH reports. */
  private static final double T_4 = 8.610;

  private OutsideReference() {}

  /** The strategy column's label, e.g. {@code QEMU 7.2.22 qemu-io, overlap-check=cached (outside reference)}. */
  static String label(String version, String tool, String mode) {
    String number = version.replaceAll(".*version\\s+([0-9.]+).*", "$1");
    return LABEL_PREFIX + number + " " + tool + ", overlap-check=" + mode
        + " (outside reference, incl. process start)";
  }

  /** Times W1 and W3 with QEMU for every size in {@code results}; empty without QEMU's tools. */
  static List<BenchResult> measure(List<BenchResult> results)
      throws IOException, InterruptedException {
    String version = QemuImg.version();
    List<BenchResult> out = new ArrayList<>();
    if (version == null) {
      return out;
    }
    Set<Map<String, String>> w1 = new LinkedHashSet<>();
    Set<Map<String, String>> w3 = new LinkedHashSet<>();
    for (BenchResult r : results) {
      Map<String, String> params = new java.util.TreeMap<>(r.params());
      params.remove(BenchResult.STRATEGY);
      if (r.benchmark().endsWith(".w1CreatePreallocated") && params.containsKey("w1MiB")) {
        w1.add(Map.of("w1MiB", params.get("w1MiB")));
      } else if (r.benchmark().endsWith(".w3RandomWrites") && params.containsKey("w3MiB")
          && params.containsKey("w3Writes")) {
        w3.add(Map.of("w3MiB", params.get("w3MiB"), "w3Writes", params.get("w3Writes")));
      }
    }
    Path dir = Scratch.newDirectory();
    try {
      if (QemuImg.find("qemu-io") != null) {
        for (Map<String, String> params : w1) {
          for (String mode : MODES) {
            out.add(w1(dir, version, params, mode));
          }
        }
      }
      for (Map<String, String> params : w3) {
        for (String mode : MODES) {
          out.add(w3(dir, version, params, mode));
        }
      }
    } finally {
      Scratch.delete(dir);
    }
    return out;
  }

  private static BenchResult w1(Path dir, String version, Map<String, String> params, String mode)
      throws IOException, InterruptedException {
    Path file = dir.resolve("qemu-w1.qcow2");
    double[] ms = new double[RUNS];
    for (int i = 0; i < RUNS; i++) {
      Files.deleteIfExists(file);
      QemuImg.run("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", file.toString(), "0");
      long start = System.nanoTime();
      QemuImg.runTool("qemu-io", "--image-opts", imageOpts(file, mode),
          "-c", "truncate -m metadata " + params.get("w1MiB") + "M");
      ms[i] = (System.nanoTime() - start) / 1e6;
    }
    Files.deleteIfExists(file);
    return result("w1CreatePreallocated", label(version, "qemu-io", mode), params, ms);
  }

  private static BenchResult w3(Path dir, String version, Map<String, String> params, String mode)
      throws IOException, InterruptedException {
    Path file = dir.resolve("qemu-w3.qcow2");
    long size = Long.parseLong(params.get("w3MiB")) << 20;
    Files.deleteIfExists(file);
    QemuImg.run("create", "-q", "-f", "qcow2", "-o", "cluster_size=512,preallocation=metadata",
        file.toString(), Long.toString(size));
    long stride = strideSectors(size >> 9) << 9;
    double[] ms = new double[RUNS];
    for (int i = 0; i < RUNS; i++) {
      long start = System.nanoTime();
      QemuImg.run("bench", "-q", "-w", "-d", "1", "-s", "512", "-S", Long.toString(stride),
          "-c", params.get("w3Writes"), "-t", "writeback", "--image-opts", imageOpts(file, mode));
      ms[i] = (System.nanoTime() - start) / 1e6;
    }
    Files.deleteIfExists(file);
    return result("w3RandomWrites", label(version, "qemu-img bench", mode), params, ms);
  }

  /** The largest prime at most 4/5 of the image's sectors: coprime to them, so writes scatter. */
  static long strideSectors(long sectors) {
    long candidate = Math.max(3, sectors * 4 / 5);
    while (!BigInteger.valueOf(candidate).isProbablePrime(40) || sectors % candidate == 0) {
      candidate--;
    }
    return candidate;
  }

  private static String imageOpts(Path file, String mode) {
    return "driver=qcow2,file.filename=" + file + ",overlap-check=" + mode;
  }

  private static BenchResult result(String method, String label, Map<String, String> params,
      double[] ms) {
    double mean = 0;
    for (double v : ms) {
      mean += v / ms.length;
    }
    double var = 0;
    for (double v : ms) {
      var += (v - mean) * (v - mean) / (ms.length - 1);
    }
    Map<String, String> all = new java.util.HashMap<>(params);
    all.put(BenchResult.STRATEGY, label);
    return new BenchResult("io.qcow2.bench.ImageWorkloadBenchmark." + method, "ss", all, mean,
        T_4 * Math.sqrt(var / ms.length), "ms/op");
  }
}
