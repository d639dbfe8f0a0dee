package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Refcount entries of every width round-trip and sit where QEMU puts them. */
class RefcountEntriesTest {
  @ParameterizedTest(name = "order {0}")
  @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6})
  void roundTripsWithoutDisturbingNeighbours(int order) {
    int entries = 512 * 8 >>> order;
    byte[] block = new byte[512];
    long[] model = new long[entries];
    Random random = new Random(order);
    long max = RefcountEntries.max(order);
    for (int i = 0; i < 5000; i++) {
      int index = random.nextInt(entries);
      long value = order == 6 ? random.nextLong() : random.nextLong() & max;
      RefcountEntries.set(block, index, order, value);
      model[index] = value;
    }
    for (int i = 0; i < entries; i++) {
      assertEquals(model[i], RefcountEntries.get(block, i, order), "entry " + i);
    }
  }

  @Test
  void layoutMatchesQemu() {
    byte[] block = new byte[8];
    RefcountEntries.set(block, 1, 0, 1);
    assertEquals(0b10, block[0]);
    RefcountEntries.set(block, 1, 2, 0xa);
    assertEquals((byte) 0xa2, block[0]);
    block = new byte[8];
    RefcountEntries.set(block, 1, 4, 0x1234);
    assertEquals(0x12, block[2]);
    assertEquals(0x34, block[3]);
    assertEquals(-1L, RefcountEntries.max(6));
    assertEquals(0xffff, RefcountEntries.max(4));
  }
}
