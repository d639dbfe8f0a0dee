package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.format.CorruptImageException;
import io.qcow2.format.ImageFiles;
import io.qcow2.format.MetadataCorruptionException;
import io.qcow2.format.OverlapAgreement;
import io.qcow2.format.Qcow2Image;
import io.qcow2.format.QemuTools;
import io.qcow2.format.ReadOnlyImageException;
import io.qcow2.format.TestOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * QEMU's iotest 060, case by case (issue 15): an image made by {@code qemu-img create} and {@code
 * qemu-io -c 'write -P 0x11 0 128k'} (L1 table at 0x30000, L2 table at 0x40000, guest cluster 0 at
 * 0x50000, refcount table at 0x10000, refcount block at 0x20000) gets one table field edited; the
 * same commands then run through our {@code qcow2 io} on one copy and through {@code qemu-io} on an
 * identical copy. The verdicts must match (some command refused or all accepted; {@code qemu-img
 * info} says corrupt or not), except for the two documented departures; when we refuse, no byte
 * of our copy outside the header's incompatible-feature field (offset 72, 8 bytes) changed. Every
 * case runs for every strategy ServiceLoader finds.
 */
class CorruptionVerdictTest {
  private static final long COPIED = 1L << 63;
  /** qcow2.txt, L1 and L2 entries: bits 9-55 hold the offset. */
  private static final long L2_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  private static final long L1 = 0x30000;
  private static final long L2 = 0x40000;
  private static final long REFTABLE = 0x10000;
  private static final long INCOMPATIBLE_FEATURES = 72;

  @TempDir static Path base;
  @TempDir Path dir;
  private static Path template;

  /**
   * One iotest-060 case: a 64-bit big-endian {@code value} written at file offset {@code field},
   * our commands and qemu-io's, and what we must say when we refuse ({@code event}, null when all
   * commands are accepted). {@code qemuCommands} differ from ours only where qemu-io spells the
   * same operation differently: our {@code write -z} always unmaps, which is qemu-io's {@code
   * write -z -u}.
   */
  record Case(String name, long field, long value, List<String> commands, List<String> qemuCommands,
      String event, Departure departure) {
    @Override
    public String toString() {
      return name;
    }
  }

  /** Where we deliberately answer differently from QEMU 7.2 (README, "Departures from QEMU"). */
  enum Departure {
    NONE,
    /**
     * QEMU accepts a discard (or {@code write -z -u}) through an L2 entry pointing at its L1 table,
     * refcount table or a refcount block, and punches a hole in that table.
     */
    QEMU_DAMAGES_METADATA
  }

  private static Case same(String name, long field, long value, String event, String... commands) {
    return new Case(name, field, value, List.of(commands), List.of(commands), event, Departure.NONE);
  }

  static List<Case> cases() {
    List<Case> cases = new ArrayList<>();
    // Item 1: a refcount reaching 0 through a corrupt pointer must not take protection away.
    cases.add(same("1a compressed-flag L2 entry: frees the header", L2 + 8, 1L << 62,
        "Preventing invalid free of metadata (the refcount of the qcow2_header at offset 0 would drop to 0)",
        "write -P 0x2a 64k 64k", "write -P 0x2b 2M 64k"));
    cases.add(same("1b COPIED entry at the L1 table, discard", L2 + 8, COPIED | L1,
        "Preventing invalid free of metadata (the refcount of the active L1 table at offset 0x30000 would drop to 0)",
        "discard 64k 64k", "write -P 0x2b 2M 64k"));
    cases.add(new Case("1c COPIED entry at the L1 table, write -z", L2 + 8, COPIED | L1,
        List.of("write -z 64k 64k", "write -P 0x2b 2M 64k"),
        List.of("write -z -u 64k 64k", "write -P 0x2b 2M 64k"),
        "Preventing invalid free of metadata (the refcount of the active L1 table at offset 0x30000 would drop to 0)",
        Departure.NONE));
    cases.add(same("1d COPIED entry at a refcount block, discard", L2 + 8, COPIED | 0x20000,
        "Preventing invalid free of metadata (the refcount of the refcount block at offset 0x20000 would drop to 0)",
        "discard 64k 64k", "write -P 0x2b 2M 64k"));
    cases.add(new Case("1d' COPIED entry at the refcount table, write -z", L2 + 8, COPIED | REFTABLE,
        List.of("write -z 64k 64k", "write -P 0x2b 2M 64k"),
        List.of("write -z -u 64k 64k", "write -P 0x2b 2M 64k"),
        "Preventing invalid free of metadata (the refcount of the refcount table at offset 0x10000 would drop to 0)",
        Departure.NONE));
    // QEMU: "Cannot free unaligned cluster 0x200", a non-fatal event; the header keeps its refcount.
    cases.add(same("1e zero-flag entry at 0x200, whole-cluster write", L2 + 8, 0x200 | 1, null,
        "write -P 0x2a 64k 64k", "write -P 0x2b 2M 64k", "read -P 0x2a 64k 64k", "read -P 0x11 0 64k"));
    cases.add(same("1e' zero-flag entry at 0x200, partial write", L2 + 8, 0x200 | 1,
        "Cluster allocation offset 0x200 unaligned (L2 offset: 0x40000, L2 index: 0x1)",
        "write -P 0x2a 64k 512", "write -P 0x2b 2M 64k"));
    // Item 2: zero-flag entries are checked for alignment.
    cases.add(same("2 unaligned zero-flag entry", L2 + 8, 0x52a01,
        "Cluster allocation offset 0x52a00 unaligned (L2 offset: 0x40000, L2 index: 0x1)",
        "write -P 0x2a 64k 512", "write -P 0x2b 2M 64k", "read -P 0x11 0 64k"));
    cases.add(same("2' unaligned zero-flag entry, discard", L2 + 8, 0x52a01, null,
        "discard 64k 64k", "write -P 0x2b 2M 64k", "read -P 0x11 0 64k"));
    // Item 3: corruption found while following a pointer is signalled as an overlap is.
    cases.add(same("3a unaligned L1 entry, write", L1, COPIED | 0x42a00,
        "L2 table offset 0x42a00 unaligned (L1 index: 0)", "write -P 0x2a 0 512", "write -P 0x2b 2M 64k"));
    cases.add(same("3a' unaligned L1 entry, read", L1, COPIED | 0x42a00,
        "L2 table offset 0x42a00 unaligned (L1 index: 0)", "read 0 512", "write -P 0x2b 2M 64k"));
    cases.add(same("3b unaligned COPIED data entry, 128k write from cluster 0", L2 + 8, COPIED | 0x200,
        "Data cluster offset 0x200 unaligned (guest offset: 0x10000)", "write -P 0x2a 0 128k"));
    cases.add(same("3b' unaligned data entry, read", L2 + 8, COPIED | 0x52a00,
        "Cluster allocation offset 0x52a00 unaligned (L2 offset: 0x40000, L2 index: 0x1)", "read 64k 512"));
    cases.add(same("3c unaligned refcount table entry, write", REFTABLE, 0x22a00,
        "Refblock offset 0x22a00 unaligned (reftable index: 0)", "write -P 0x2a 512k 512", "write -P 0x2b 2M 64k"));
    cases.add(same("3d unaligned refcount table entry, discard", REFTABLE, 0x22a00,
        "Refblock offset 0x22a00 unaligned (reftable index: 0)", "discard 0 64k", "write -P 0x2b 2M 64k"));
    // Departure: QEMU punches a hole in its own L1 table (every guest cluster then reads as zero).
    cases.add(new Case("D discard through an entry at the L1 table, alone", L2 + 8, COPIED | L1,
        List.of("discard 64k 64k"), List.of("discard 64k 64k"),
        "Preventing invalid free of metadata (the refcount of the active L1 table at offset 0x30000 would drop to 0)",
        Departure.QEMU_DAMAGES_METADATA));
    cases.add(new Case("D2 write -z through an entry at the L1 table, alone", L2 + 8, COPIED | L1,
        List.of("write -z 64k 64k"), List.of("write -z -u 64k 64k"),
        "Preventing invalid free of metadata (the refcount of the active L1 table at offset 0x30000 would drop to 0)",
        Departure.QEMU_DAMAGES_METADATA));
    cases.add(new Case("D3 discard through an entry at a refcount block, alone", L2 + 8, COPIED | 0x20000,
        List.of("discard 64k 64k"), List.of("discard 64k 64k"),
        "Preventing invalid free of metadata (the refcount of the refcount block at offset 0x20000 would drop to 0)",
        Departure.QEMU_DAMAGES_METADATA));
    cases.add(new Case("D4 discard through an entry at the refcount table, alone", L2 + 8, COPIED | REFTABLE,
        List.of("discard 64k 64k"), List.of("discard 64k 64k"),
        "Preventing invalid free of metadata (the refcount of the refcount table at offset 0x10000 would drop to 0)",
        Departure.QEMU_DAMAGES_METADATA));
    return cases;
  }

  static Stream<Arguments> casesPerStrategy() {
    List<Arguments> arguments = new ArrayList<>();
    for (String strategy : TestOptions.strategies()) {
      for (Case c : cases()) {
        arguments.add(Arguments.of(strategy, c));
      }
    }
    return arguments.stream();
  }

  @BeforeAll
  static void buildTemplate() throws IOException {
    QemuTools.assumeAvailable();
    template = QemuTools.create(base.resolve("template.qcow2"), "", "64M");
    QemuTools.io(template, "write -P 0x11 0 128k");
    // The layout every case's field offsets assume (iotest 060's).
    assertEquals(L1, ImageFiles.readLong(template, 40));
    assertEquals(REFTABLE, ImageFiles.readLong(template, 48));
    assertEquals(0x20000, ImageFiles.readLong(template, REFTABLE));
    assertEquals(COPIED | L2, ImageFiles.readLong(template, L1));
    assertEquals(COPIED | 0x50000, ImageFiles.readLong(template, L2));
    assertEquals(COPIED | 0x60000, ImageFiles.readLong(template, L2 + 8));
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("casesPerStrategy")
  void verdictMatchesQemuIo(String strategy, Case c) throws IOException {
    Path edited = dir.resolve("edited.qcow2");
    Files.copy(template, edited);
    ImageFiles.writeLong(edited, c.field(), c.value());
    Path ours = Files.copy(edited, dir.resolve("ours.qcow2"));
    Path theirs = Files.copy(edited, dir.resolve("qemu.qcow2"));

    Verdict qemu = qemuIo(theirs, c.qemuCommands());
    Verdict us = ourIo(ours, strategy, c.commands());
    String context = c + " [" + strategy + "]\n--- qcow2 io\n" + us.output() + "--- qemu-io\n" + qemu.output();

    if (c.departure() == Departure.QEMU_DAMAGES_METADATA) {
      assertFalse(qemu.refused() || qemu.corrupt(), "QEMU 7.2 accepts this\n" + context);
      long table = c.value() & L2_OFFSET_MASK;
      assertEquals(0, ImageFiles.readLong(theirs, table), "QEMU 7.2 punches a hole in its own table\n" + context);
      assertTrue(us.refused() && us.corrupt(), "we refuse\n" + context);
    } else {
      assertEquals(qemu.refused(), us.refused(), "refused\n" + context);
      assertEquals(qemu.corrupt(), us.corrupt(), "corrupt flag\n" + context);
    }
    assertFalse(java.util.regex.Pattern.compile("-\\d{4,}").matcher(us.output()).find(),
        "offsets are unsigned hex, never negative decimals\n" + context);
    if (c.event() == null) {
      assertFalse(us.refused(), context);
    } else {
      assertTrue(us.output().contains("qcow2: " + c.event() + "; image marked as corrupt"), context);
    }
    if (us.refused()) {
      assertOnlyCorruptBitChanged(edited, ours, context);
      // A read-write reopen is refused; a read-only one works.
      assertThrows(CorruptImageException.class, () -> Qcow2Image.open(ours, TestOptions.open(strategy), true));
      Qcow2Image.open(ours, TestOptions.open(strategy), false).close();
    }
  }

  /**
   * Two L2 entries at the L1 table, whose refcount is 2: each discard takes one reference, the
   * request as a whole would take it to 0, and is refused before its first byte (the frees of a
   * request are checked together, a cluster queued twice losing two references).
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("strategies")
  void twoReferencesFreedInOneRequestAreCountedTogether(String strategy) throws IOException {
    Path edited = dir.resolve("edited.qcow2");
    Files.copy(template, edited);
    ImageFiles.writeLong(edited, L2 + 8, COPIED | L1);
    ImageFiles.writeLong(edited, L2 + 16, COPIED | L1);
    ImageFiles.writeShort(edited, 0x20000 + 2 * (L1 >>> 16), 2);
    Path ours = Files.copy(edited, dir.resolve("ours.qcow2"));
    Path theirs = Files.copy(edited, dir.resolve("qemu.qcow2"));
    List<String> commands = List.of("discard 64k 128k", "write -P 0x2b 2M 64k");
    Verdict qemu = qemuIo(theirs, commands);
    Verdict us = ourIo(ours, strategy, commands);
    String context = "[" + strategy + "]\n--- qcow2 io\n" + us.output() + "--- qemu-io\n" + qemu.output();
    assertEquals(qemu.refused(), us.refused(), context);
    assertEquals(qemu.corrupt(), us.corrupt(), context);
    assertTrue(us.output().contains("qcow2: Preventing invalid free of metadata (the refcount of the "
        + "active L1 table at offset 0x30000 would drop to 0); image marked as corrupt"), context);
    assertOnlyCorruptBitChanged(edited, ours, context);
  }

  /** A zero flag on a version 2 image, which has none: refused as QEMU does (no corrupt bit there). */
  @ParameterizedTest(name = "{0}")
  @MethodSource("strategies")
  void zeroFlagOnAVersion2ImageIsACorruptionEvent(String strategy) throws IOException {
    Path edited = QemuTools.create(dir.resolve("edited.qcow2"), "compat=0.10", "64M");
    QemuTools.io(edited, "write -P 0x11 0 128k");
    assertEquals(COPIED | L2, ImageFiles.readLong(edited, L1));
    ImageFiles.writeLong(edited, L2 + 8, 1);
    Path ours = Files.copy(edited, dir.resolve("ours.qcow2"));
    Path theirs = Files.copy(edited, dir.resolve("qemu.qcow2"));
    List<String> commands = List.of("read 64k 512", "write -P 0x2b 2M 64k");
    Verdict qemu = qemuIo(theirs, commands);
    Verdict us = ourIo(ours, strategy, commands);
    String context = "[" + strategy + "]\n--- qcow2 io\n" + us.output() + "--- qemu-io\n" + qemu.output();
    assertTrue(qemu.refused() && us.refused(), context);
    assertFalse(qemu.corrupt() || us.corrupt(), context);
    assertTrue(us.output().contains("qcow2: Zero cluster entry found in pre-v3 image (L2 offset: 0x40000, "
        + "L2 index: 0x1); image not marked as corrupt (compat 0.10 has no corrupt bit)"), context);
    assertArrayEquals(Files.readAllBytes(edited), Files.readAllBytes(ours), context);
  }

  /**
   * The first departure: after a corruption event QEMU's node is dead ("No medium found") while
   * we go on reading, so data can be copied out; and the write that set the bit is not the last
   * one refused.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("strategies")
  void readsGoOnAfterACorruptionEvent(String strategy) throws IOException {
    Path edited = dir.resolve("edited.qcow2");
    Files.copy(template, edited);
    ImageFiles.writeLong(edited, L2 + 8, 0x52a01);
    Path theirs = Files.copy(edited, dir.resolve("qemu.qcow2"));
    Verdict qemu = qemuIo(theirs, List.of("write -P 0x2a 64k 512", "read -P 0x11 0 64k"));
    assertTrue(qemu.output().contains("read failed: No medium found"), qemu.output());

    try (Qcow2Image image = Qcow2Image.open(edited, TestOptions.open(strategy), true)) {
      MetadataCorruptionException e = assertThrows(MetadataCorruptionException.class,
          () -> image.write(64 << 10, new byte[512], 0, 512));
      assertTrue(e.markedCorrupt(), e.getMessage());
      assertEquals("Cluster allocation offset 0x52a00 unaligned (L2 offset: 0x40000, L2 index: 0x1)", e.event());
      assertTrue(image.info().corrupt());
      ReadOnlyImageException readOnly = assertThrows(ReadOnlyImageException.class,
          () -> image.write(2 << 20, new byte[512], 0, 512));
      assertTrue(readOnly.getMessage().contains("'qcow2 check -r all'")
          && readOnly.getMessage().contains("'qemu-img check -r all'"), readOnly.getMessage());
      byte[] back = new byte[64 << 10];
      image.read(0, back, 0, back.length);
      byte[] expected = new byte[back.length];
      Arrays.fill(expected, (byte) 0x11);
      assertArrayEquals(expected, back);
    }
  }

  /**
   * "Preventing invalid allocation of L2 table at offset 0": the header's refcount cleared, a write
   * that needs a new L2 table (iotest 060's case, on a 1 GiB image whose second L2 table is new).
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("strategies")
  void l2TableAllocatedAtOffsetZeroIsRefused(String strategy) throws IOException {
    Path edited = QemuTools.create(dir.resolve("edited.qcow2"), "", "1G");
    QemuTools.io(edited, "write -P 0x11 0 64k");
    long refblock = ImageFiles.readLong(edited, ImageFiles.readLong(edited, 48));
    ImageFiles.writeShort(edited, refblock, 0);
    Path ours = Files.copy(edited, dir.resolve("ours.qcow2"));
    Path theirs = Files.copy(edited, dir.resolve("qemu.qcow2"));
    List<String> commands = List.of("write -P 0x2a 600M 64k");
    Verdict qemu = qemuIo(theirs, commands);
    Verdict us = ourIo(ours, strategy, commands);
    String context = "[" + strategy + "]\n--- qcow2 io\n" + us.output() + "--- qemu-io\n" + qemu.output();
    assertTrue(qemu.output().contains("Preventing invalid allocation of L2 table at offset 0"), context);
    assertEquals(qemu.refused(), us.refused(), context);
    assertEquals(qemu.corrupt(), us.corrupt(), context);
    assertTrue(us.output().contains(
        "qcow2: Preventing invalid allocation of L2 table at offset 0; image marked as corrupt"), context);
    assertOnlyCorruptBitChanged(edited, ours, context);
  }

  /**
   * Item 3 of issue 15: an event-tracking strategy sees an unaligned L2 table or refcount block
   * on both clusters it touches, as legacy scans it, so every strategy answers alike.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("strategies")
  void strategiesAgreeOnUnalignedTables(String strategy) throws IOException {
    Path edited = dir.resolve("edited.qcow2");
    Files.copy(template, edited);
    ImageFiles.writeLong(edited, L1, COPIED | 0x42a00);
    ImageFiles.writeLong(edited, REFTABLE, 0x52a00);
    try (Qcow2Image image = Qcow2Image.open(edited, TestOptions.openAll(strategy), false)) {
      OverlapAgreement.assertAgree(image, "unaligned L2 table and refcount block");
      var checker = image.overlapChecker().orElseThrow();
      assertEquals(io.qcow2.overlap.MetadataType.ACTIVE_L2.mask(), checker.check(0x40000, 1, 0));
      assertTrue((checker.check(0x50000, 1, 0) & io.qcow2.overlap.MetadataType.ACTIVE_L2.mask()) != 0);
      assertTrue((checker.check(0x60000, 1, 0) & io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK.mask()) != 0);
    }
  }

  static Stream<String> strategies() {
    return TestOptions.strategies().stream();
  }

  /** Whether some command failed, whether qemu-img info then says corrupt, what was printed. */
  record Verdict(boolean refused, boolean corrupt, String output) {}

  private static Verdict qemuIo(Path image, List<String> commands) throws IOException {
    List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
    for (String c : commands) {
      command.add("-c");
      command.add(c);
    }
    command.add(image.toString());
    QemuTools.Output out = QemuTools.execMerged(command.toArray(String[]::new));
    // qemu-io exits 1 when a command fails; its output names the failure.
    boolean refused = out.exitCode() != 0 || out.stdout().contains(" failed: ");
    return new Verdict(refused, corrupt(image), out.stdout());
  }

  private static Verdict ourIo(Path image, String strategy, List<String> commands) throws IOException {
    List<String> args = new ArrayList<>(List.of("io", "--overlap-strategy", strategy, image.toString()));
    for (String c : commands) {
      args.add("-c");
      args.add(c);
    }
    StringWriter out = new StringWriter();
    int status = Qcow2Command.execute(args.toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(out, true));
    return new Verdict(status != 0, corrupt(image), out.toString());
  }

  private static boolean corrupt(Path image) throws IOException {
    String info = QemuTools.runMerged("qemu-img", "info", "-f", "qcow2", image.toString());
    return info.contains("corrupt: true");
  }

  private static void assertOnlyCorruptBitChanged(Path before, Path after, String context) throws IOException {
    byte[] a = Files.readAllBytes(before);
    byte[] b = Files.readAllBytes(after);
    assertEquals(a.length, b.length, "file length changed\n" + context);
    for (int i = 0; i < a.length; i++) {
      if (a[i] != b[i] && (i < INCOMPATIBLE_FEATURES || i >= INCOMPATIBLE_FEATURES + 8)) {
        fail(String.format("byte at 0x%x changed from 0x%02x to 0x%02x\n%s", i, a[i], b[i], context));
      }
    }
  }
}
