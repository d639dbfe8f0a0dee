package io.qcow2.overlap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class MetadataTypeTest {
  @Test
  void bitNumbersAreQemus() {
    // QCOW2_OL_*_BITNR in QEMU's block/qcow2.h.
    assertEquals(0, MetadataType.MAIN_HEADER.bit());
    assertEquals(1, MetadataType.ACTIVE_L1.bit());
    assertEquals(2, MetadataType.ACTIVE_L2.bit());
    assertEquals(3, MetadataType.REFCOUNT_TABLE.bit());
    assertEquals(4, MetadataType.REFCOUNT_BLOCK.bit());
    assertEquals(5, MetadataType.SNAPSHOT_TABLE.bit());
    assertEquals(6, MetadataType.INACTIVE_L1.bit());
    assertEquals(7, MetadataType.INACTIVE_L2.bit());
    assertEquals(8, MetadataType.BITMAP_DIRECTORY.bit());
    // This project's, beyond QEMU's nine.
    assertEquals(9, MetadataType.BITMAP_TABLE.bit());
    assertEquals(10, MetadataType.BITMAP_DATA.bit());
    assertEquals("bitmap-table", MetadataType.BITMAP_TABLE.optionName());
    assertEquals("bitmap-data", MetadataType.BITMAP_DATA.optionName());
    assertEquals(0x7ff, MetadataType.ALL_MASK);
    for (MetadataType type : MetadataType.values()) {
      assertEquals(1 << type.bit(), type.mask());
      assertEquals(type, MetadataType.forOptionName(type.optionName()));
    }
  }

  @Test
  void masksConvertBothWays() {
    int mask = MetadataType.maskOf(MetadataType.ACTIVE_L2, MetadataType.REFCOUNT_BLOCK);
    assertEquals(0x14, mask);
    assertEquals(List.of(MetadataType.ACTIVE_L2, MetadataType.REFCOUNT_BLOCK),
        MetadataType.fromMask(mask));
    assertEquals("active L2 table, refcount block", MetadataType.describe(mask));
    assertEquals("active-l2,refcount-block", MetadataType.optionNames(mask));
    assertEquals("none", MetadataType.describe(0));
    assertNull(MetadataType.forOptionName("active-l3"));
  }

  @Test
  void unknownBitsAreRejectedWithTheValue() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> MetadataType.checkMask(0x1fff, "types"));
    assertTrue(e.getMessage().contains("types 0x1fff") && e.getMessage().contains("0x1800"),
        e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> MetadataType.fromMask(-1));
  }
}
