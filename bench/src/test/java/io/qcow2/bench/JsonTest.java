package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test
  void parsesNestedValues() {
    Object value = Json.parse(" {\"a\": [1, 2.5e3, -3], \"b\": {\"c\": \"x\\\"y\\u0041\"}, "
        + "\"d\": true, \"e\": null} ");
    Map<?, ?> map = (Map<?, ?>) value;
    assertEquals(List.of(1.0, 2500.0, -3.0), map.get("a"));
    assertEquals("x\"yA", ((Map<?, ?>) map.get("b")).get("c"));
    assertEquals(Boolean.TRUE, map.get("d"));
    assertTrue(map.containsKey("e"));
  }

  @Test
  void roundTrips() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("name", "tab\there \"quoted\"");
    map.put("list", Arrays.asList(1L, 0.25, "s", null, false));
    map.put("empty", Map.of());
    assertEquals(map.toString(), Json.parse(Json.write(map)).toString().replace("1.0,", "1,"));
  }

  @Test
  void rejectsMalformedInputWithOffset() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": [1, }"));
    assertTrue(e.getMessage().contains("offset 10"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Json.parse("[1] x"));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("\"open"));
  }
}
