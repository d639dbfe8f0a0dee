package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The text helpers: sizes in qemu-img's words, JSON in QEMU's layout. */
class SizesTest {
  @Test
  void sizesAsQemuImgPrintsThem() {
    assertEquals("0 B", Sizes.human(0));
    assertEquals("512 B", Sizes.human(512));
    assertEquals("1 KiB", Sizes.human(1024));
    assertEquals("108 KiB", Sizes.human(110592));
    assertEquals("8.84 KiB", Sizes.human(9048));
    assertEquals("1 MiB", Sizes.human(1 << 20));
    assertEquals("1.5 GiB", Sizes.human(3L << 29));
    assertEquals("8 EiB", Sizes.human(Long.MAX_VALUE));
  }

  @Test
  void jsonNestsAndEscapes() {
    Map<String, Object> inner = new LinkedHashMap<>();
    inner.put("a\"b", "line\nnext\t\u0001");
    Map<String, Object> outer = new LinkedHashMap<>();
    outer.put("n", 5L);
    outer.put("flag", true);
    outer.put("list", List.of(inner, List.of()));
    outer.put("empty", Map.of());
    assertEquals("{\n"
        + "    \"n\": 5,\n"
        + "    \"flag\": true,\n"
        + "    \"list\": [\n"
        + "        {\n"
        + "            \"a\\\"b\": \"line\\nnext\\t\\u0001\"\n"
        + "        },\n"
        + "        []\n"
        + "    ],\n"
        + "    \"empty\": {}\n"
        + "}", Json.render(outer));
    Map<String, Object> run = new LinkedHashMap<>();
    run.put("start", 0);
    run.put("types", List.of("x", "y"));
    assertEquals("{ \"start\": 0, \"types\": [\"x\", \"y\"]}", Json.renderInline(run));
  }
}
