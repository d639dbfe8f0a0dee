package io.qcow2.overlap.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ClusterTypeMapTest {
  private static Map<Long, Integer> contents(ClusterTypeMap map) {
    Map<Long, Integer> copy = new HashMap<>();
    map.forEach(copy::put);
    return copy;
  }

  @Test
  void agreesWithHashMapOnRandomOperations() {
    long seed = DifferentialRun.seedFromProperty();
    for (int keyRange : new int[] {8, 100, 5_000, 1 << 30}) {
      Random random = new Random(seed + keyRange);
      ClusterTypeMap map = new ClusterTypeMap();
      Map<Long, Integer> expected = new HashMap<>();
      for (int step = 0; step < 200_000; step++) {
        long key = random.nextInt(keyRange);
        int bits = 1 + random.nextInt(0x1ff);
        String what = "seed " + seed + ", key range " + keyRange + ", step " + step;
        if (random.nextInt(5) < 3) {
          map.or(key, bits);
          expected.merge(key, bits, (a, b) -> a | b);
        } else {
          map.andNot(key, bits);
          expected.computeIfPresent(key, (k, v) -> (v & ~bits) == 0 ? null : v & ~bits);
        }
        assertEquals(expected.getOrDefault(key, 0), map.get(key), what);
        assertEquals(expected.size(), map.size(), what);
        if (step % 10_000 == 0) {
          assertEquals(expected, contents(map), what);
          long first = random.nextInt(keyRange);
          long count = 1 + random.nextInt(64);
          int union = 0;
          for (Map.Entry<Long, Integer> e : expected.entrySet()) {
            if (e.getKey() >= first && e.getKey() < first + count) {
              union |= e.getValue();
            }
          }
          assertEquals(union, map.unionInRange(first, count), what);
        }
      }
      assertEquals(expected, contents(map), "seed " + seed);
    }
  }
}
