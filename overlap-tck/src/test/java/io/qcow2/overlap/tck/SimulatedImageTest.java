package io.qcow2.overlap.tck;

import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.INACTIVE_L1;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.MAIN_HEADER;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static io.qcow2.overlap.MetadataType.REFCOUNT_TABLE;
import static io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SimulatedImageTest {
  /** Records events as strings, e.g. "+ACTIVE_L1@3x1". */
  private static final class RecordingChecker extends ReferenceModel {
    final List<String> events = new ArrayList<>();

    RecordingChecker(int clusterBits) {
      super(clusterBits, MetadataType.ALL_MASK);
    }

    @Override
    protected void enterClusters(long first, long count, int types) {
      events.add("+" + MetadataType.fromMask(types) + "@" + first + "x" + count);
      super.enterClusters(first, count, types);
    }

    @Override
    protected void removeClusters(long first, long count, int types) {
      events.add("-" + MetadataType.fromMask(types) + "@" + first + "x" + count);
      super.removeClusters(first, count, types);
    }
  }

  @Test
  void newImageHasHeaderRefcountsAndL1() {
    SimulatedImage image = new SimulatedImage(16);
    image.validate();
    Map<Long, Integer> types = image.scanView();
    assertEquals(MAIN_HEADER.mask(), types.get(0L));
    assertTrue(types.containsValue(REFCOUNT_TABLE.mask()));
    assertTrue(types.containsValue(REFCOUNT_BLOCK.mask()));
    assertTrue(types.containsValue(ACTIVE_L1.mask()));
    assertEquals(16, image.activeL1Size());
  }

  @Test
  void randomHistoriesKeepViewAndEventsInStep() {
    long seed = DifferentialRun.seedFromProperty();
    for (int bits : new int[] {9, 12, 21}) {
      Random random = new Random(seed);
      SimulatedImage image = new SimulatedImage(bits);
      ReferenceModel late = null;
      for (int step = 0; step < 5_000; step++) {
        String operation = image.randomStep(random);
        try {
          image.validate();
        } catch (IllegalStateException e) {
          throw new AssertionError(
              "seed " + seed + ", clusterBits " + bits + ", step " + step + ", " + operation, e);
        }
        if (step == 2_500) {
          late = new ReferenceModel(bits, MetadataType.ALL_MASK);
          image.attach(late);
        }
      }
      assertEquals(image.scanView(), late.clusters(), "seed " + seed + ": attach replays state");
    }
  }

  @Test
  void growingTheL1TableEntersTheNewTableBeforeRemovingTheOld() {
    SimulatedImage image = new SimulatedImage(9);
    RecordingChecker recorder = new RecordingChecker(9);
    image.attach(recorder);
    long oldFirst = image.activeL1Offset() >>> 9;
    recorder.events.clear();
    image.growL1(1000);
    long newFirst = image.activeL1Offset() >>> 9;
    assertNotEquals(oldFirst, newFirst);
    assertEquals("+[ACTIVE_L1]@" + newFirst + "x16", recorder.events.get(0));
    assertEquals("-[ACTIVE_L1]@" + oldFirst + "x1", recorder.events.get(1));
    image.validate();
  }

  @Test
  void growingTheRefcountTableMovesIt() {
    SimulatedImage image = new SimulatedImage(9);
    RecordingChecker recorder = new RecordingChecker(9);
    image.attach(recorder);
    long oldFirst = image.refcountTableOffset() >>> 9;
    recorder.events.clear();
    image.growRefcountTable();
    long newFirst = image.refcountTableOffset() >>> 9;
    assertEquals(List.of("+[REFCOUNT_TABLE]@" + newFirst + "x1",
        "-[REFCOUNT_TABLE]@" + oldFirst + "x1"), recorder.events);
    assertEquals(16, image.refcountTableSize());
    image.validate();
  }

  @Test
  void snapshotsShareL2TablesAndDroppingOneKeepsActiveTables() throws IOException {
    SimulatedImage image = new SimulatedImage(12);
    ReferenceModel model = new ReferenceModel(12, MetadataType.ALL_MASK);
    image.attach(model);
    image.allocateL2(0);
    image.allocateL2(1);
    long shared = (image.activeL1Entry(0) & MetadataView.L1_OFFSET_MASK) >>> 12;
    assertTrue((image.activeL1Entry(0) & SimulatedImage.COPIED) != 0, "unshared L2 is COPIED");
    image.addSnapshot();
    image.addSnapshot();
    assertEquals(2, image.snapshotCount());
    assertEquals(0, image.activeL1Entry(0) & SimulatedImage.COPIED, "shared L2 is not COPIED");
    assertEquals(ACTIVE_L2.mask() | INACTIVE_L2.mask(), model.typesAt(shared));
    long snapshotL1 = image.snapshotL1Offset(0) >>> 12;
    assertEquals(INACTIVE_L1.mask(), model.typesAt(snapshotL1));
    assertTrue(image.snapshotTableLength() > 0);
    assertEquals(SNAPSHOT_TABLE.mask(), model.typesAt(image.snapshotTableOffset() >>> 12));

    image.dropSnapshot(0);
    assertEquals(ACTIVE_L2.mask() | INACTIVE_L2.mask(), model.typesAt(shared),
        "still referenced by the other snapshot");
    assertEquals(0, model.typesAt(snapshotL1));
    image.copyOnWriteL2(0);
    assertEquals(INACTIVE_L2.mask(), model.typesAt(shared));
    image.dropSnapshot(0);
    assertEquals(0, model.typesAt(shared), "neither active nor in a snapshot: freed");
    long second = (image.activeL1Entry(1) & MetadataView.L1_OFFSET_MASK) >>> 12;
    assertEquals(ACTIVE_L2.mask(), model.typesAt(second), "active L2 keeps ACTIVE_L2");
    assertEquals(0, image.snapshotTableLength());
    image.validate();
  }

  @Test
  void snapshotL1ReadsReturnCopiesAndCanFail() throws IOException {
    SimulatedImage image = new SimulatedImage(9);
    image.allocateL2(3);
    image.addSnapshot();
    long[] table = image.readSnapshotL1Table(0);
    long stored = table[3];
    assertNotEquals(0, stored);
    table[3] = 0;
    assertEquals(stored, image.readSnapshotL1Table(0)[3]);
    image.setFailSnapshotReads(true);
    IOException e = assertThrows(IOException.class, () -> image.readSnapshotL1Table(0));
    assertTrue(e.getMessage().contains(String.valueOf(image.snapshotL1Offset(0))));
    image.setFailSnapshotReads(false);
    assertArrayEquals(image.readSnapshotL1Table(0), image.readSnapshotL1Table(0));
  }

  @Test
  void largeLayoutsAreBuiltDirectly() {
    SimulatedImage image = SimulatedImage.withL2Tables(9, 100_000);
    assertEquals(100_000, image.activeL2Count());
    assertTrue(image.refcountBlockCount() >= 100_000 / 256);
    image.validate();
    ReferenceModel model = new ReferenceModel(9, MetadataType.ALL_MASK);
    image.attach(model);
    assertEquals(image.scanView(), model.clusters());
    long l2 = (image.activeL1Entry(99_999) & MetadataView.L1_OFFSET_MASK);
    assertEquals(ACTIVE_L2.mask(), model.check(l2, 1, 0));
    image.allocateL2(0);
    image.validate();
  }

  @Test
  void emptyLargeLayoutIsValid() {
    SimulatedImage image = SimulatedImage.withL2Tables(16, 0);
    assertEquals(0, image.activeL2Count());
    image.validate();
  }

  @Test
  void bitmapDirectoryIsWrittenAndDropped() {
    SimulatedImage image = new SimulatedImage(9);
    image.writeBitmapDirectory(1000);
    assertEquals(1000, image.bitmapDirectoryLength());
    image.validate();
    long first = image.bitmapDirectoryOffset();
    image.writeBitmapDirectory(100);
    assertNotEquals(first, image.bitmapDirectoryOffset());
    image.validate();
    image.dropBitmapDirectory();
    assertEquals(0, image.bitmapDirectoryLength());
    image.validate();
  }

  @Test
  void bitmapsAreStoredReplacedAndDropped() {
    SimulatedImage image = new SimulatedImage(9);
    image.storeBitmap(100, 5, -1);
    image.storeBitmap(3, 0, -1);
    assertEquals(2, image.bitmapCount());
    assertEquals(100, image.bitmapTableSize(0));
    int data = 0;
    int allOnes = 0;
    for (int i = 0; i < 100; i++) {
      long entry = image.bitmapTableEntry(0, i);
      if ((entry & SimulatedImage.BITMAP_TABLE_OFFSET_MASK) != 0) {
        data++;
      } else if (entry == SimulatedImage.BITMAP_ALL_ONES) {
        allOnes++;
      }
    }
    assertEquals(5, data);
    assertTrue(allOnes > 0, "all-ones entries carry bit 0 without an offset");
    image.validate();
    Map<Long, Integer> types = image.scanView();
    assertEquals(MetadataType.BITMAP_TABLE.mask(), types.get(image.bitmapTableOffset(0) >>> 9));
    long old = image.bitmapTableOffset(0);
    image.storeBitmap(10, 10, 0); // as QEMU at close: new clusters, the old ones freed
    assertNotEquals(old, image.bitmapTableOffset(0));
    assertEquals(10, image.bitmapTableSize(0));
    image.validate();
    image.dropBitmap(1);
    image.dropBitmap(0);
    assertEquals(0, image.bitmapCount());
    image.validate();
  }
}
