package io.qcow2.format.cli;

import java.util.List;
import java.util.Map;

/**
 * Renders maps, lists, strings, numbers and booleans as JSON in QEMU's layout: objects one member
 * per line, indented by four spaces.
 */
final class Json {
  private Json() {}

  static String render(Object value) {
    StringBuilder out = new StringBuilder();
    write(out, value, 0);
    return out.toString();
  }

  /** An object on one line, as {@code qemu-img map --output=json} prints its extents. */
  static String renderInline(Map<String, ?> object) {
    StringBuilder out = new StringBuilder("{ ");
    boolean first = true;
    for (Map.Entry<String, ?> member : object.entrySet()) {
      if (!first) {
        out.append(", ");
      }
      first = false;
      string(out, member.getKey());
      out.append(": ");
      writeInline(out, member.getValue());
    }
    return out.append("}").toString();
  }

  private static void writeInline(StringBuilder out, Object value) {
    if (value instanceof List<?> list) {
      out.append('[');
      for (int i = 0; i < list.size(); i++) {
        out.append(i > 0 ? ", " : "");
        writeInline(out, list.get(i));
      }
      out.append(']');
    } else if (value instanceof Map<?, ?> map) {
      @SuppressWarnings("unchecked")
      Map<String, ?> object = (Map<String, ?>) map;
      out.append(renderInline(object));
    } else {
      write(out, value, 0);
    }
  }

  private static void write(StringBuilder out, Object value, int depth) {
    if (value instanceof Map<?, ?> map) {
      if (map.isEmpty()) {
        out.append("{}");
        return;
      }
      out.append("{\n");
      int i = 0;
      for (Map.Entry<?, ?> member : map.entrySet()) {
        indent(out, depth + 1);
        string(out, String.valueOf(member.getKey()));
        out.append(": ");
        write(out, member.getValue(), depth + 1);
        out.append(++i < map.size() ? ",\n" : "\n");
      }
      indent(out, depth);
      out.append('}');
    } else if (value instanceof List<?> list) {
      if (list.isEmpty()) {
        out.append("[]");
        return;
      }
      out.append("[\n");
      for (int i = 0; i < list.size(); i++) {
        indent(out, depth + 1);
        write(out, list.get(i), depth + 1);
        out.append(i + 1 < list.size() ? ",\n" : "\n");
      }
      indent(out, depth);
      out.append(']');
    } else if (value instanceof String s) {
      string(out, s);
    } else if (value == null || value instanceof Number || value instanceof Boolean) {
      out.append(value);
    } else {
      string(out, value.toString());
    }
  }

  private static void indent(StringBuilder out, int depth) {
    out.append("    ".repeat(depth));
  }

  private static void string(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }
}
