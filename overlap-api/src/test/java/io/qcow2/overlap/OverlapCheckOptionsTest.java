package io.qcow2.overlap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class OverlapCheckOptionsTest {
  private static int mask(Map<String, String> options) {
    return OverlapCheckOptions.enabledMask(options);
  }

  @Test
  void templatesSelectTheirMasks() {
    assertEquals(OverlapCheckMode.CACHED.mask(), mask(Map.of()));
    assertEquals(0, mask(Map.of("overlap-check", "none")));
    // QEMU's QCOW2_OL_CONSTANT includes the bitmap directory.
    assertEquals(MetadataType.maskOf(MetadataType.MAIN_HEADER, MetadataType.ACTIVE_L1,
        MetadataType.REFCOUNT_TABLE, MetadataType.SNAPSHOT_TABLE, MetadataType.BITMAP_DIRECTORY),
        mask(Map.of("overlap-check", "constant")));
    assertEquals(MetadataType.ALL_MASK & ~MetadataType.INACTIVE_L2.mask(),
        mask(Map.of("overlap-check", "cached")));
    // This project's bitmap tables and data: cached and all, not constant (OverlapCheckMode).
    int bitmaps = MetadataType.maskOf(MetadataType.BITMAP_TABLE, MetadataType.BITMAP_DATA);
    assertEquals(0, mask(Map.of("overlap-check", "constant")) & bitmaps);
    assertEquals(bitmaps, mask(Map.of("overlap-check", "cached")) & bitmaps);
    assertEquals(bitmaps, mask(Map.of("overlap-check", "all")) & bitmaps);
    assertEquals(MetadataType.ALL_MASK, mask(Map.of("overlap-check", "all")));
    assertEquals(MetadataType.ALL_MASK, mask(Map.of("overlap-check.template", "all")));
    assertEquals(MetadataType.ALL_MASK,
        mask(Map.of("overlap-check", "all", "overlap-check.template", "all")));
  }

  @Test
  void perTypeSwitchesApplyAfterTheTemplate() {
    assertEquals(MetadataType.ALL_MASK,
        mask(Map.of("overlap-check.inactive-l2", "on")));
    assertEquals(OverlapCheckMode.CACHED.mask() & ~MetadataType.ACTIVE_L2.mask(),
        mask(Map.of("overlap-check.active-l2", "off")));
    assertEquals(MetadataType.BITMAP_DIRECTORY.mask(),
        mask(Map.of("overlap-check", "none", "overlap-check.bitmap-directory", "yes")));
    assertEquals(MetadataType.BITMAP_TABLE.mask(),
        mask(Map.of("overlap-check", "none", "overlap-check.bitmap-table", "on")));
    assertEquals(OverlapCheckMode.CACHED.mask() & ~MetadataType.BITMAP_DATA.mask(),
        mask(Map.of("overlap-check.bitmap-data", "off")));
    assertEquals(OverlapCheckMode.CONSTANT.mask() & ~MetadataType.MAIN_HEADER.mask(),
        mask(Map.of("overlap-check", "constant", "overlap-check.main-header", "false")));
    for (MetadataType type : MetadataType.values()) {
      String key = "overlap-check." + type.optionName();
      // Every spelling QEMU's qapi_bool_parse accepts.
      for (String on : new String[] {"on", "yes", "true", "y"}) {
        assertEquals(type.mask(), mask(Map.of("overlap-check", "none", key, on)), on);
      }
      for (String off : new String[] {"off", "no", "false", "n"}) {
        assertEquals(MetadataType.ALL_MASK & ~type.mask(),
            mask(Map.of("overlap-check", "all", key, off)), off);
      }
    }
  }

  @Test
  void conflictingTemplatesAreRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> mask(Map.of("overlap-check", "all", "overlap-check.template", "none")));
    assertTrue(e.getMessage().contains("'all'") && e.getMessage().contains("'none'"),
        e.getMessage());
  }

  @Test
  void unknownModeListsAllowedValues() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> mask(Map.of("overlap-check", "most")));
    assertTrue(e.getMessage().contains("'most'"), e.getMessage());
    assertTrue(e.getMessage().contains("none, constant, cached, all"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> mask(Map.of("overlap-check.template", "x")));
    assertTrue(e.getMessage().contains("overlap-check.template"), e.getMessage());
  }

  @Test
  void unknownKeyListsAllowedKeys() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> mask(Map.of("overlap-check.active-l3", "on")));
    assertTrue(e.getMessage().contains("overlap-check.active-l3"), e.getMessage());
    for (MetadataType type : MetadataType.values()) {
      assertTrue(e.getMessage().contains("overlap-check." + type.optionName()), e.getMessage());
    }
    assertTrue(e.getMessage().contains("overlap-check.template"), e.getMessage());
  }

  @Test
  void badSwitchValueListsAllowedValues() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> mask(Map.of("overlap-check.active-l1", "maybe")));
    assertTrue(e.getMessage().contains("'maybe'") && e.getMessage().contains("on, off"),
        e.getMessage());
  }

  @Test
  void otherKeysAreIgnored() {
    assertEquals(OverlapCheckMode.CACHED.mask(),
        mask(Map.of("overlap-strategy", "legacy", "cache-size", "1M")));
    assertTrue(OverlapCheckOptions.isOverlapCheckKey("overlap-check"));
    assertTrue(OverlapCheckOptions.isOverlapCheckKey("overlap-check.inactive-l1"));
    assertFalse(OverlapCheckOptions.isOverlapCheckKey("overlap-strategy"));
  }
}
