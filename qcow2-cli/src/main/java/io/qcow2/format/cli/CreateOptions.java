package io.qcow2.format.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The {@code -o key=value[,key=value...]} create options of {@code create} and {@code convert}. */
final class CreateOptions {
  private CreateOptions() {}

  /**
   * The pairs in order; a later pair for the same key wins, as in qemu-img.
   *
   * @throws IllegalArgumentException for a pair without {@code =} or key
   */
  static Map<String, String> parse(List<String> groups) {
    Map<String, String> options = new LinkedHashMap<>();
    for (String group : groups) {
      for (String pair : group.split(",", -1)) {
        int eq = pair.indexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException(
              "Invalid create option '" + pair + "': expected key=value");
        }
        options.put(pair.substring(0, eq), pair.substring(eq + 1));
      }
    }
    return options;
  }
}
