package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SizeArgumentTest {
  @Test
  void bytesHexAndBinarySuffixes() {
    assertEquals(0, SizeArgument.parse("size", "0"));
    assertEquals(512, SizeArgument.parse("size", "512"));
    assertEquals(512, SizeArgument.parse("size", "512b"));
    assertEquals(0x3100, SizeArgument.parse("size", "0x3100"));
    assertEquals(4096, SizeArgument.parse("size", "4k"));
    assertEquals(4096, SizeArgument.parse("size", "4K"));
    assertEquals(3L << 20, SizeArgument.parse("size", "3M"));
    assertEquals(2L << 30, SizeArgument.parse("size", "2g"));
    assertEquals(1L << 40, SizeArgument.parse("size", "1T"));
    assertEquals(7L << 60, SizeArgument.parse("size", "7E"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "k", "-1", "+1", "1.5M", "4q", "0x", "0xg", "8E", "0x8000000000000000",
      "99999999999999999999"})
  void refusesWhatIsNotASize(String text) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> SizeArgument.parse("length", text));
    assertEquals("Invalid length '" + text + "': expected bytes, 0x hex, or a number with suffix "
        + "k, M, G, T, P or E", e.getMessage());
  }
}
