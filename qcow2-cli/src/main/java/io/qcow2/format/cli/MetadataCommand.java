package io.qcow2.format.cli;

import io.qcow2.format.ImageDetails;
import io.qcow2.format.Qcow2Image;
import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 metadata [--output=human|json] IMAGE}: what the configured overlap checker protects.
 * Asks the checker about every cluster of the file and prints the runs of clusters with the same
 * non-empty type mask. Nothing in it is strategy-specific: two strategies print the same output
 * exactly when they agree on every cluster.
 */
@Command(name = "metadata", mixinStandardHelpOptions = true,
    description = "List the clusters the overlap checker protects, as runs of equal metadata types.")
final class MetadataCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human",
      description = "Output format: ${COMPLETION-CANDIDATES}.")
  OutputFormat output;

  @Parameters(paramLabel = "IMAGE") Path image;

  /**
   * A run of clusters holding the same metadata types.
   *
   * @param start host offset of the first cluster, bytes
   * @param clusters clusters in the run
   * @param mask the {@link MetadataType} mask
   */
  record Run(long start, long clusters, int mask) {
    Map<String, Object> json() {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("start", start);
      json.put("clusters", clusters);
      List<Object> types = new ArrayList<>();
      for (MetadataType type : MetadataType.fromMask(mask)) {
        types.add(type.optionName());
      }
      json.put("types", types);
      return json;
    }
  }

  @Override
  public Integer call() throws IOException {
    List<Run> runs;
    try (Qcow2Image opened = imageOptions.open(image)) {
      long fileSize = ImageDetails.fileSize(opened);
      Progress progress = new Progress(spec.commandLine().getErr(), imageOptions.progress(),
          fileSize);
      runs = runs(opened.overlapChecker(), fileSize, progress);
      progress.finish();
    }
    PrintWriter out = spec.commandLine().getOut();
    if (output == OutputFormat.json) {
      out.print("[");
      for (int i = 0; i < runs.size(); i++) {
        out.print(Json.renderInline(runs.get(i).json()));
        out.print(i + 1 < runs.size() ? ",\n" : "");
      }
      out.println("]");
    } else {
      out.printf("%-16s%-16s%s%n", "Start", "Clusters", "Types");
      for (Run run : runs) {
        out.printf("%-16s%-16d%s%n", run.start == 0 ? "0" : "0x" + Long.toHexString(run.start),
            run.clusters, MetadataType.optionNames(run.mask));
      }
    }
    return 0;
  }

  /**
   * The runs of clusters in {@code [0, fileSize)} rounded up to clusters, by asking {@code checker}
   * about each cluster; empty without a checker (mode none).
   */
  static List<Run> runs(Optional<OverlapChecker> checker, long fileSize, Progress progress) {
    List<Run> runs = new ArrayList<>();
    if (checker.isEmpty()) {
      return runs;
    }
    OverlapChecker c = checker.get();
    int bits = c.clusterBits();
    long clusterSize = 1L << bits;
    long clusters = (fileSize + clusterSize - 1) >>> bits;
    long runStart = 0;
    int runMask = 0;
    for (long cluster = 0; cluster <= clusters; cluster++) {
      int mask = cluster < clusters ? c.check(cluster << bits, clusterSize, 0) : 0;
      if (mask != runMask || cluster == clusters) {
        if (runMask != 0) {
          runs.add(new Run(runStart << bits, cluster - runStart, runMask));
        }
        runStart = cluster;
        runMask = mask;
      }
      if ((cluster & 0xfff) == 0) {
        progress.update(cluster << bits);
      }
    }
    return runs;
  }
}
