package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Calls go down (issue 14): {@link Qcow2Image} holds the engine's parts and calls them; no part
 * holds the image (a reference it could call back through), and {@link HostFile} holds nothing but
 * the file and the metadata tracker below it (no corruption handler up into the image, as {@code
 * HostFile.handler} was).
 */
class EngineStructureTest {

  @Test
  void noPartOfTheEngineHoldsTheImage() throws Exception {
    List<String> holders = new ArrayList<>();
    for (Class<?> type : engineClasses()) {
      if (type == Qcow2Image.class || type.getName().startsWith(Qcow2Image.class.getName() + "$")) {
        continue;
      }
      for (Field field : type.getDeclaredFields()) {
        if (!Modifier.isStatic(field.getModifiers()) && field.getType() == Qcow2Image.class) {
          holders.add(type.getSimpleName() + "." + field.getName());
        }
      }
    }
    assertEquals(List.of(), holders, "fields through which a part could call back into Qcow2Image");
  }

  @Test
  void hostFileReachesOnlyTheFileAndTheTracker() {
    List<String> fields = new ArrayList<>();
    for (Field field : HostFile.class.getDeclaredFields()) {
      Class<?> type = field.getType();
      if (!Modifier.isStatic(field.getModifiers()) && !type.isPrimitive() && !type.isArray()
          && type != java.nio.ByteBuffer.class) {
        fields.add(type.getSimpleName() + " " + field.getName());
      }
    }
    assertEquals(List.of("HostIo io", "MetadataTracker tracker"), fields.stream().sorted().toList());
  }

  /** The compiled classes of package io.qcow2.format (the main classes directory). */
  private static List<Class<?>> engineClasses() throws IOException, URISyntaxException, ClassNotFoundException {
    Path root = Path.of(Qcow2Image.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Path dir = root.resolve("io/qcow2/format");
    assertTrue(Files.isDirectory(dir), "classes directory " + dir);
    List<Class<?>> classes = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
        String name = file.getFileName().toString();
        classes.add(Class.forName("io.qcow2.format." + name.substring(0, name.length() - 6)));
      }
    }
    assertTrue(classes.size() > 20, "found " + classes.size() + " classes in " + dir);
    return classes;
  }
}
