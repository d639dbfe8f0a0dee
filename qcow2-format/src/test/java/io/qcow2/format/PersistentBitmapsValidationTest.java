package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A bitmap directory, entry or table QEMU refuses fails our open too, with QEMU's message
 * (bitmap_list_load, check_dir_entry, check_table_entry): each case corrupts one field of a
 * qemu-made image and compares with what {@code qemu-img info} says.
 */
class PersistentBitmapsValidationTest {
  @TempDir Path dir;

  @BeforeEach
  void qemu() {
    QemuTools.assumeAvailable();
  }

  /**
   * @param field what to corrupt: an entry field (offset in the directory entry) or the first table
   *     entry
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "reserved flag|12|4|4|Bitmap 'b' doesn't satisfy the constraints",
      "type 2|16|1|2|Bitmap 'b' doesn't satisfy the constraints",
      "granularity 8|17|1|8|Bitmap 'b' doesn't satisfy the constraints",
      "table size 0|8|4|0|Bitmap 'b' doesn't satisfy the constraints",
      "extra data past the directory|20|4|8|Broken bitmap directory",
      "table entry reserved bits|table|8|2|Could not read bitmap_table table from image for bitmap 'b'",
      "nb_bitmaps 2|nb|4|2|Less bitmaps found than specified in header extension"})
  void refusedAsQemuRefusesIt(String name, String field, int width, long value, String message)
      throws IOException {
    Path img = QemuTools.create(dir.resolve("v.qcow2"), "", "4M");
    QemuTools.runMerged("qemu-img", "bitmap", "--add", img.toString(), "b");
    QemuTools.io(img, "write 0 4k");
    long extension;
    long directory;
    long table;
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      extension = image.header().bitmapsExtensionOffset;
      directory = image.header().bitmapDirectoryOffset;
      table = image.bitmaps().tableOffset(0);
    }
    long at = field.equals("table") ? table : field.equals("nb") ? extension
        : directory + Integer.parseInt(field);
    try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
      f.seek(at);
      switch (width) {
        case 1 -> f.writeByte((int) value);
        case 4 -> f.writeInt((int) value);
        default -> f.writeLong(value);
      }
    }
    QemuTools.Output qemu = QemuTools.execMerged("qemu-img", "info", img.toString());
    assertNotEquals(0, qemu.exitCode(), qemu.stdout());
    assertTrue(qemu.stdout().contains(message), "qemu-img: " + qemu.stdout());
    for (boolean writable : new boolean[] {false, true}) {
      CorruptImageException e = assertThrows(CorruptImageException.class,
          () -> Qcow2Image.open(img, TestOptions.open(), writable));
      assertTrue(e.getMessage().contains(message), e.getMessage());
    }
    assertNotEquals(0, QemuTools.execMerged("qemu-img", "info", img.toString()).exitCode(),
        "our failed opens wrote nothing that hides the damage");
  }
}
