package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * {@link TableCache} against a map model: a dirty table is never evicted and keeps its content,
 * a clean one may go; after a commit the cache is back at its capacity; {@code validate()} after
 * every step. Seed {@value #SEED} ({@code -Dqcow2.random.seed}).
 */
class TableCacheTest {
  private static final long SEED = 20261130;

  @Test
  void randomisedAgainstAMapModel() {
    long seed = Long.getLong("qcow2.random.seed", SEED);
    Random random = new Random(seed);
    for (int capacity : new int[] {1, 2, 7, 64}) {
      TableCache<long[]> cache = new TableCache<>(capacity, () -> new long[1]);
      Map<Long, Long> dirty = new HashMap<>();
      Map<Long, Long> onDisk = new HashMap<>();
      for (int step = 0; step < 20_000; step++) {
        long key = random.nextInt(4 * capacity + 3) * 512L;
        String context = "seed " + seed + ", capacity " + capacity + ", step " + step + ", key " + key;
        int op = random.nextInt(10);
        if (op < 5) {
          long[] table = cache.get(key);
          if (table == null) {
            assertTrue(!dirty.containsKey(key), "dirty table evicted: " + context);
            table = cache.put(key);
            table[0] = onDisk.getOrDefault(key, 0L);
          } else {
            long expected = dirty.containsKey(key) ? dirty.get(key) : onDisk.getOrDefault(key, 0L);
            assertEquals(expected, table[0], context);
          }
        } else if (op < 8) {
          long[] table = cache.get(key);
          if (table == null) {
            table = cache.put(key);
            table[0] = onDisk.getOrDefault(key, 0L);
          }
          table[0] = random.nextLong();
          cache.markDirty(key);
          dirty.put(key, table[0]);
        } else {
          // A commit: write every dirty table, then trim.
          long[] keys = cache.dirtyKeys();
          assertEquals(new TreeMap<>(dirty).keySet().stream().mapToLong(Long::longValue).boxed().toList(),
              java.util.Arrays.stream(keys).boxed().toList(), context);
          for (long k : keys) {
            onDisk.put(k, cache.get(k)[0]);
          }
          dirty.clear();
          cache.markAllClean();
          cache.trim();
          assertTrue(cache.size() <= capacity, context);
        }
        cache.validate();
      }
    }
  }

  @Test
  void evictsOnlyCleanTablesAndReusesTheirArrays() {
    TableCache<long[]> cache = new TableCache<>(2, () -> new long[1]);
    long[] a = cache.put(0);
    cache.markDirty(0);
    long[] b = cache.put(512);
    long[] c = cache.put(1024);  // full: the clean table at 512 goes, its array is reused
    assertSame(b, c);
    assertNull(cache.get(512));
    assertSame(a, cache.get(0));
    cache.markDirty(1024);
    long[] d = cache.put(1536);  // every table dirty: the cache grows until the owner commits
    assertEquals(3, cache.size());
    assertTrue(cache.isFullOfDirty());
    assertArrayEquals(new long[] {0, 1024}, cache.dirtyKeys());
    cache.markAllClean();
    cache.trim();
    assertEquals(2, cache.size());
    cache.validate();
    assertTrue(d.length == 1);
  }

  @Test
  void capacityBelowOneIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new TableCache<>(0, () -> new long[1]));
    assertTrue(e.getMessage().contains("at least 1"), e.getMessage());
  }

  @Test
  void cacheSizesFollowQemu() {
    // W1: 2 GiB, 512 B clusters: the whole image's L2 tables fit QEMU's 32 MiB default.
    CacheSizes w1 = CacheSizes.resolve(Map.of(), 2L << 30, 9);
    assertEquals(65536, w1.l2Tables());
    assertEquals(16384, w1.refcountBlocks());
    // Opened at size 0, as create does: QEMU's minimum caches.
    assertEquals(2, CacheSizes.resolve(Map.of(), 0, 9).l2Tables());
    assertEquals(4, CacheSizes.resolve(Map.of(), 0, 9).refcountBlocks());
    // 1 TiB, 64 KiB clusters: 32 MiB of L2 tables, the default maximum.
    assertEquals(512, CacheSizes.resolve(Map.of(), 1L << 40, 16).l2Tables());
    assertEquals(2, CacheSizes.resolve(Map.of("l2-cache-size", "1"), 1L << 40, 16).l2Tables());
    CacheSizes combined = CacheSizes.resolve(Map.of("cache-size", "1M"), 1L << 40, 16);
    assertEquals(12, combined.l2Tables());
    assertEquals(4, combined.refcountBlocks());
    assertEquals(16, CacheSizes.resolve(Map.of("cache-size", "1M", "l2-cache-size", "0"), 1L << 40, 16)
        .refcountBlocks());
    IllegalArgumentException all = assertThrows(IllegalArgumentException.class, () -> CacheSizes.resolve(
        Map.of("cache-size", "1M", "l2-cache-size", "1k", "refcount-cache-size", "1k"), 1L << 30, 16));
    assertTrue(all.getMessage().contains("may not be set at the same time"), all.getMessage());
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
        () -> CacheSizes.resolve(Map.of("l2-cache-size", "lots"), 1L << 30, 16));
    assertTrue(bad.getMessage().contains("'l2-cache-size'"), bad.getMessage());
  }
}
