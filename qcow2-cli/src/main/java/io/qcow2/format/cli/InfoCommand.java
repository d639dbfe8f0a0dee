package io.qcow2.format.cli;

import io.qcow2.format.ImageDetails;
import io.qcow2.format.ImageDetails.SnapshotSummary;
import io.qcow2.format.ImageInfo;
import io.qcow2.format.Qcow2Image;
import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapChecker;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
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
 * {@code qcow2 info [--output=human|json] IMAGE}: what {@code qemu-img info} shows for a qcow2
 * image, plus the overlap strategy, mode, and the checker's memory and counters.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
    description = "Show the image's header, snapshots and overlap checker.")
final class InfoCommand implements Callable<Integer> {
  private static final DateTimeFormatter DATE =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.systemDefault());

  /** Incompatible feature bit 3: the compression type is not zlib. */
  private static final long COMPRESSION_TYPE_BIT = 1L << 3;

  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human",
      description = "Output format: ${COMPLETION-CANDIDATES}.")
  OutputFormat output;

  @Parameters(paramLabel = "IMAGE") Path image;

  @Override
  public Integer call() throws IOException {
    // As qemu-img info: the backing chain is not opened, so a missing backing file is shown, not fatal.
    try (Qcow2Image opened = imageOptions.openWithoutBacking(image)) {
      Map<String, Object> info = describe(opened);
      PrintWriter out = spec.commandLine().getOut();
      if (output == OutputFormat.json) {
        out.println(Json.render(info));
      } else {
        printHuman(out, opened, info);
      }
    }
    return 0;
  }

  /** The report as qemu-img's JSON members, then {@code overlap-check}. */
  Map<String, Object> describe(Qcow2Image opened) throws IOException {
    ImageInfo header = opened.info();
    Map<String, Object> info = new LinkedHashMap<>();
    List<SnapshotSummary> snapshots = ImageDetails.snapshots(opened);
    if (!snapshots.isEmpty()) {
      List<Object> list = new ArrayList<>();
      for (SnapshotSummary s : snapshots) {
        Map<String, Object> entry = new LinkedHashMap<>();
        if (s.icount() != -1) {
          entry.put("icount", s.icount());
        }
        entry.put("vm-clock-nsec", s.vmClockNanos() % 1_000_000_000L);
        entry.put("name", s.name());
        entry.put("date-sec", s.dateSeconds());
        entry.put("date-nsec", s.dateNanos());
        entry.put("vm-clock-sec", s.vmClockNanos() / 1_000_000_000L);
        entry.put("id", s.id());
        entry.put("vm-state-size", s.vmStateSize());
        list.add(entry);
      }
      info.put("snapshots", list);
    }
    info.put("virtual-size", opened.virtualSize());
    info.put("filename", image.toString());
    info.put("cluster-size", header.clusterSize());
    info.put("format", "qcow2");
    info.put("actual-size", HostAllocation.allocatedBytes(image));
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("compat", header.compat());
    if (header.version() >= 3) {
      data.put("compression-type", compressionType(header));
    }
    data.put("lazy-refcounts", header.lazyRefcounts());
    data.put("refcount-bits", header.refcountBits());
    data.put("corrupt", header.corrupt());
    data.put("extended-l2", false);
    Map<String, Object> specific = new LinkedHashMap<>();
    specific.put("type", "qcow2");
    specific.put("data", data);
    info.put("format-specific", specific);
    if (header.backingFile() != null) {
      info.put("backing-filename", header.backingFile());
      if (header.backingFormat() != null) {
        info.put("backing-filename-format", header.backingFormat());
      }
    }
    info.put("dirty-flag", header.dirty());
    info.put("overlap-check", overlap(opened));
    return info;
  }

  /** zlib, or zstd where the compression type's incompatible bit is set (open checked it). */
  static String compressionType(ImageInfo header) {
    return (header.incompatibleFeatures() & COMPRESSION_TYPE_BIT) != 0 ? "zstd" : "zlib";
  }

  private static Map<String, Object> overlap(Qcow2Image opened) {
    Map<String, Object> overlap = new LinkedHashMap<>();
    overlap.put("strategy", opened.overlapStrategy());
    overlap.put("mode", modeName(opened.overlapMask()));
    List<Object> types = new ArrayList<>();
    for (MetadataType type : MetadataType.fromMask(opened.overlapMask())) {
      types.add(type.optionName());
    }
    overlap.put("types", types);
    Optional<OverlapChecker> checker = opened.overlapChecker();
    if (checker.isPresent()) {
      overlap.put("memory-bytes", checker.get().memoryBytes());
      overlap.put("statistics", new LinkedHashMap<String, Object>(checker.get().stats()));
    }
    return overlap;
  }

  /** The template whose mask is {@code mask}, or {@code custom} when per-type switches changed it. */
  static String modeName(int mask) {
    for (OverlapCheckMode mode : OverlapCheckMode.values()) {
      if (mode.mask() == mask) {
        return mode.optionValue();
      }
    }
    return "custom";
  }

  private void printHuman(PrintWriter out, Qcow2Image opened, Map<String, Object> info)
      throws IOException {
    ImageInfo header = opened.info();
    out.println("image: " + image);
    out.println("file format: qcow2");
    out.printf("virtual size: %s (%d bytes)%n", Sizes.human(opened.virtualSize()),
        opened.virtualSize());
    out.println("disk size: " + Sizes.human(HostAllocation.allocatedBytes(image)));
    out.println("cluster_size: " + header.clusterSize());
    if (header.backingFile() != null) {
      out.println("backing file: " + header.backingFile());
      if (header.backingFormat() != null) {
        out.println("backing file format: " + header.backingFormat());
      }
    }
    List<SnapshotSummary> snapshots = ImageDetails.snapshots(opened);
    if (!snapshots.isEmpty()) {
      out.println("Snapshot list:");
      // bdrv_snapshot_dump()'s columns.
      out.printf("%-10s%-17s%8s%20s%13s%11s%n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
          "ICOUNT");
      for (SnapshotSummary s : snapshots) {
        long millis = s.vmClockNanos() / 1_000_000;
        String clock = String.format("%02d:%02d:%02d.%03d", millis / 3_600_000,
            millis / 60_000 % 60, millis / 1000 % 60, millis % 1000);
        out.printf("%-9s %-17s %7s%20s%13s%11s%n", s.id(), s.name(),
            Sizes.human(s.vmStateSize()), DATE.format(Instant.ofEpochSecond(s.dateSeconds())),
            clock, s.icount() == -1 ? "" : Long.toUnsignedString(s.icount()));
      }
    }
    out.println("Format specific information:");
    out.println("    compat: " + header.compat());
    if (header.version() >= 3) {
      out.println("    compression type: " + compressionType(header));
    }
    out.println("    lazy refcounts: " + header.lazyRefcounts());
    out.println("    refcount bits: " + header.refcountBits());
    out.println("    corrupt: " + header.corrupt());
    out.println("    extended l2: false");
    @SuppressWarnings("unchecked")
    Map<String, Object> overlap = (Map<String, Object>) info.get("overlap-check");
    out.println("Overlap check:");
    out.println("    strategy: " + overlap.get("strategy"));
    out.println("    mode: " + overlap.get("mode"));
    out.println("    types: " + MetadataType.optionNames(opened.overlapMask()));
    if (overlap.containsKey("memory-bytes")) {
      long memory = (Long) overlap.get("memory-bytes");
      out.printf("    memory: %s (%d bytes)%n", Sizes.human(memory), memory);
      @SuppressWarnings("unchecked")
      Map<String, Object> stats = (Map<String, Object>) overlap.get("statistics");
      for (Map.Entry<String, Object> stat : stats.entrySet()) {
        out.println("    " + stat.getKey() + ": " + stat.getValue());
      }
    }
  }
}
