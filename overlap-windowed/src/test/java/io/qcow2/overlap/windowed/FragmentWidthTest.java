package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.overlap.MetadataType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fragment encoding takes its type width from the API and still holds every bit with up to 16
 * types at the largest window, where the length field shrinks to nothing: a window's list, edited
 * at random with type masks using every bit, agrees with a per-cluster map and stays canonical.
 */
class FragmentWidthTest {
  @Test
  void typeBitsFollowTheApi() {
    assertEquals(MetadataType.values().length, FragmentList.TYPE_BITS);
  }

  @ParameterizedTest(name = "types={0}, W=2^{1}")
  @CsvSource({"9, 16", "11, 16", "11, 12", "16, 16", "16, 12", "16, 3", "16, 0"})
  void everyTypeBitSurvivesEdits(int typeBits, int windowBits) {
    long seed = 0x5EED_0000L + typeBits * 100 + windowBits;
    FragmentList list = new FragmentList(windowBits, typeBits);
    list.addSlot(0);
    int window = 1 << windowBits;
    int[] model = new int[window];
    SplittableRandom random = new SplittableRandom(seed);
    int hot = random.nextInt(window);
    for (int step = 0; step < 3000; step++) {
      int from = Math.floorMod(hot + random.nextInt(-300, 300), window);
      int to = Math.min(window, from + 1 + random.nextInt(random.nextInt(8) == 0 ? 2000 : 40));
      int types = 1 + random.nextInt((1 << typeBits) - 1);
      if (random.nextInt(4) == 0) {
        types |= 1 << (typeBits - 1);   // the highest bit, which would be lost if the width were short
      }
      String where = String.format("seed 0x%x step %d [%d, %d) 0x%x", seed, step, from, to, types);
      boolean enter = list.isEmpty(0) || random.nextInt(3) != 0;   // as the checker: no remove on an empty list
      if (enter) {
        list.enter(0, from, to, types);
      } else {
        list.remove(0, from, to, types);
      }
      for (int i = from; i < to; i++) {
        model[i] = enter ? model[i] | types : model[i] & ~types;
      }
      list.validate(0);
      int checkFrom = random.nextInt(window);
      int checkTo = Math.min(window, checkFrom + 1 + random.nextInt(100));
      int wanted = random.nextInt(1 << typeBits);
      int expected = 0;
      for (int i = checkFrom; i < checkTo; i++) {
        expected |= model[i] & wanted;
      }
      assertEquals(expected, list.typesIn(0, checkFrom, checkTo, wanted), where);
    }
    int[] rebuilt = new int[window];
    for (int fragment : list.fragments(0)) {
      for (int i = list.start(fragment); i < list.start(fragment) + list.length(fragment); i++) {
        rebuilt[i] = list.types(fragment);
      }
    }
    for (int i = 0; i < window; i++) {
      assertEquals(model[i], rebuilt[i], "cluster " + i + ", seed 0x" + Long.toHexString(seed));
    }
  }
}
