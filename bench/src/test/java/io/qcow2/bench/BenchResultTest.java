package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class BenchResultTest {
  @Test
  void parsesJmhJson() {
    String json = new FakeResults()
        .check("legacy", 1000, 1234.5, 12.5)
        .w1("none", 800, Double.NaN)
        .json();
    List<BenchResult> results = BenchResult.parseJmhJson(json);
    assertEquals(2, results.size());
    BenchResult check = results.get(0);
    assertEquals("io.qcow2.bench.CheckLatencyBenchmark.check", check.benchmark());
    assertEquals("CheckLatencyBenchmark.check", check.shortName());
    assertEquals("legacy", check.strategy());
    assertEquals("CheckLatencyBenchmark.check structures=1000 writeBytes=512", check.workload());
    assertEquals(1234.5, check.score());
    assertEquals(12.5, check.error());
    assertEquals("ns/op", check.unit());
    assertEquals("avgt", check.mode());
    assertTrue(Double.isNaN(results.get(1).error()), "NaN scoreError parsed as NaN");
    assertEquals("ss", results.get(1).mode());
  }

  @Test
  void rejectsRunsWithoutMetric() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BenchResult.parseJmhJson("[{\"benchmark\": \"a.B.c\", \"mode\": \"avgt\"}]"));
    assertTrue(e.getMessage().contains("primaryMetric"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> BenchResult.parseJmhJson("{}"));
  }
}
