package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Runs {@link MemoryReport} with the default options and prints its figures; no timing gates. */
class MemoryReportTest {
  @Test
  void reportsRealisticLayouts() {
    for (MemoryReport.Result result : MemoryReport.run(Map.of(), false)) {
      System.out.println("memory report: " + result + "  " + result.stats());
      double error = Math.abs(result.memoryBytes() - result.jolBytes()) / (double) result.jolBytes();
      assertTrue(error <= 0.10, result.toString());
    }
  }
}
