package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.tck.SimulatedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jol.info.GraphLayout;

/**
 * The memory step of the report: how many bytes each strategy holds for a fully populated,
 * metadata-preallocated image, against image size and cluster size (the series' RAM tables). A
 * size is not a rate, so this is a measured report step, not a JMH benchmark: it builds each
 * layout once, attaches every strategy, and records {@link OverlapChecker#memoryBytes()} and the
 * size of the checker's object graph as JOL walks it (less the image view, which the image owns).
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.qcow2.bench.MemoryReport [quick|full]
 * [--out FILE]}; {@link AbReport} and {@link RegressionGate} run it in-process.
 */
public final class MemoryReport {
  /**
   * A layout to measure.
   *
   * @param name e.g. {@code 2GiB/512B}
   */
  record Layout(String name, long imageBytes, int clusterBits) {
    static Layout of(long imageBytes, int clusterBits) {
      return new Layout(size(imageBytes) + "/" + size(1L << clusterBits), imageBytes, clusterBits);
    }
  }

  private MemoryReport() {}

  /** Measures every layout with every strategy that builds a checker ({@code none} builds none). */
  static List<MemoryRecord> measure(List<Layout> layouts, List<String> strategies) {
    List<MemoryRecord> records = new ArrayList<>();
    for (Layout layout : layouts) {
      SimulatedImage image = Layouts.preallocated(
          layout.clusterBits(), Layouts.l2TablesFor(layout.imageBytes(), layout.clusterBits()));
      GraphLayout imageGraph = null;
      for (String strategy : strategies) {
        if (strategy.equals(Strategies.NONE)) {
          continue;
        }
        OverlapChecker checker = Strategies.create(strategy, layout.clusterBits(), image, Map.of());
        image.attach(checker);
        image.detach(checker);
        if (imageGraph == null) {
          imageGraph = quietly(() -> GraphLayout.parseInstance(image));
        }
        long jol = GraphLayout.parseInstance(checker).subtract(imageGraph).totalSize();
        records.add(new MemoryRecord(layout.name(), strategy, layout.imageBytes(),
            1 << layout.clusterBits(), Layouts.structures(image), checker.memoryBytes(), jol));
      }
    }
    return records;
  }

  /**
   * Runs {@code action} with JOL's start-up notes (it prints to {@code System.out} that it could
   * not attach an agent, then measures without one) moved to {@code System.err}.
   */
  private static <T> T quietly(java.util.function.Supplier<T> action) {
    java.io.PrintStream out = System.out;
    java.io.ByteArrayOutputStream notes = new java.io.ByteArrayOutputStream();
    System.setOut(new java.io.PrintStream(notes, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      return action.get();
    } finally {
      System.setOut(out);
      System.err.print(notes.toString(java.nio.charset.StandardCharsets.UTF_8));
    }
  }

  static String toText(List<MemoryRecord> records) {
    List<String[]> rows = new ArrayList<>();
    rows.add(MemoryRecord.HEADER);
    for (MemoryRecord r : records) {
      rows.add(r.cells());
    }
    int[] width = new int[MemoryRecord.HEADER.length];
    for (String[] row : rows) {
      for (int i = 0; i < row.length; i++) {
        width[i] = Math.max(width[i], row[i].length());
      }
    }
    StringBuilder out = new StringBuilder();
    for (String[] row : rows) {
      for (int i = 0; i < row.length; i++) {
        String pad = " ".repeat(width[i] - row[i].length());
        out.append(i < 2 ? row[i] + pad : pad + row[i]).append(i + 1 < row.length ? "  " : "\n");
      }
    }
    return out.toString();
  }

  static String toJson(List<MemoryRecord> records) {
    List<Object> list = new ArrayList<>();
    for (MemoryRecord r : records) {
      list.add(r.toJson());
    }
    return Json.write(list);
  }

  static List<MemoryRecord> fromJson(String text) {
    List<MemoryRecord> records = new ArrayList<>();
    for (Object o : (List<?>) Json.parse(text)) {
      records.add(MemoryRecord.fromJson((Map<?, ?>) o));
    }
    return records;
  }

  static String size(long bytes) {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int unit = 0;
    while (unit + 1 < units.length && bytes >= 1024 && bytes % 1024 == 0) {
      bytes /= 1024;
      unit++;
    }
    return String.format(Locale.ROOT, "%d%s", bytes, units[unit]);
  }

  /** Prints the memory table for a profile's layouts; {@code --out FILE} also writes JSON. */
  public static void main(String[] args) throws IOException {
    Profile profile = Profile.QUICK;
    Path out = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--out") && i + 1 < args.length) {
        out = Path.of(args[++i]);
      } else {
        profile = Profile.parse(args[i]);
      }
    }
    List<MemoryRecord> records = measure(profile.memoryLayouts(), Strategies.names());
    System.out.print(toText(records));
    if (out != null) {
      Files.writeString(out, toJson(records));
    }
  }
}
