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
  void jmhLikeJsonRoundTrips() {
    List<BenchResult> results = BenchResult.parseJmhJson(new FakeResults()
        .w1("qemu-img 7.2.22 (outside reference, incl. process start)", 412.5, 3.25)
        .w1("none", 100, Double.NaN)
        .json());
    assertEquals(results, BenchResult.parseJmhJson(BenchResult.toJmhLikeJson(results)).stream()
        .map(r -> new BenchResult(r.benchmark(), r.mode(), r.params(), r.score(), r.error(),
            r.unit()))
        .toList());
  }

  @Test
  void outsideReferenceLabelNamesTheVersion() {
    assertEquals("QEMU 7.2.22 qemu-io, overlap-check=cached (outside reference, incl. process start)",
        OutsideReference.label("qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
            "qemu-io", "cached"));
    assertTrue(Strategies.isOutside(
        OutsideReference.label("qemu-img version 8.0.0", "qemu-img bench", "none")));
  }

  @Test
  void rejectsRunsWithoutMetric() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BenchResult.parseJmhJson("[{\"benchmark\": \"a.B.c\", \"mode\": \"avgt\"}]"));
    assertTrue(e.getMessage().contains("primaryMetric"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> BenchResult.parseJmhJson("{}"));
  }
}
