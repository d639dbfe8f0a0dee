package io.qcow2.bench;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What one strategy holds in memory for one fully populated layout.
 *
 * @param layout a name for the layout, e.g. {@code 2GiB/512B}
 * @param imageBytes the image (host) size the layout's metadata describes
 * @param clusterBytes the cluster size
 * @param structures metadata structures (L2 tables and refcount blocks) entered
 * @param memoryBytes what {@link io.qcow2.overlap.OverlapChecker#memoryBytes()} reports
 * @param jolBytes the checker's retained object graph as JOL measures it, less the image view
 */
record MemoryRecord(
    String layout, String strategy, long imageBytes, int clusterBytes, long structures,
    long memoryBytes, long jolBytes) {
  static final String[] HEADER = {
    "layout", "strategy", "image bytes", "cluster bytes", "structures", "memoryBytes()", "JOL bytes",
    "series formula 40*IS/CS^2"
  };

  /** The same record under another strategy name (the gate's substitutes). */
  MemoryRecord withStrategy(String name) {
    return new MemoryRecord(layout, name, imageBytes, clusterBytes, structures, memoryBytes,
        jolBytes);
  }

  /** The series' worst-case estimate of its list's size for this layout (cover letter, RAM usage). */
  long seriesEstimate() {
    return 40 * (imageBytes / clusterBytes) / clusterBytes;
  }

  String[] cells() {
    return new String[] {
      layout, strategy, Long.toString(imageBytes), Integer.toString(clusterBytes),
      Long.toString(structures), Long.toString(memoryBytes), Long.toString(jolBytes),
      Long.toString(seriesEstimate())
    };
  }

  /** The key the gate and the baseline use for this record's memoryBytes(). */
  String metricKey() {
    return String.format(Locale.ROOT, "memory %s %s", strategy, layout);
  }

  Map<String, Object> toJson() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("layout", layout);
    map.put("strategy", strategy);
    map.put("imageBytes", imageBytes);
    map.put("clusterBytes", clusterBytes);
    map.put("structures", structures);
    map.put("memoryBytes", memoryBytes);
    map.put("jolBytes", jolBytes);
    return map;
  }

  static MemoryRecord fromJson(Map<?, ?> map) {
    return new MemoryRecord(
        (String) map.get("layout"), (String) map.get("strategy"),
        ((Number) map.get("imageBytes")).longValue(), ((Number) map.get("clusterBytes")).intValue(),
        ((Number) map.get("structures")).longValue(), ((Number) map.get("memoryBytes")).longValue(),
        ((Number) map.get("jolBytes")).longValue());
  }
}
