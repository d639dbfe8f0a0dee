package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * {@link HostFile} reports a fired check as an exception its caller handles, and writes nothing
 * then: no callback into the image (issue 14). The image side (corrupt bit, read-only, the public
 * exception) is {@code CorruptionTest}'s and {@code HostIoFaultTest}'s.
 */
class HostFileTest {
  private static final int CLUSTER = 65536;
  private static final long L1_OFFSET = 3L * CLUSTER;

  /** A tracker that knows one active L1 cluster. */
  private static MetadataTracker oneL1Cluster() {
    return new MetadataTracker() {
      @Override
      void enter(long offset, long clusters, int types) {}

      @Override
      void remove(long offset, long clusters, int types) {}

      @Override
      int check(long offset, long length, int ignoredTypes) {
        boolean hits = offset < L1_OFFSET + CLUSTER && L1_OFFSET < offset + length;
        return hits ? MetadataType.ACTIVE_L1.mask() & ~ignoredTypes : 0;
      }

      @Override
      Optional<OverlapChecker> checker() {
        return Optional.empty();
      }

      @Override
      int enabledMask() {
        return MetadataType.ACTIVE_L1.mask();
      }
    };
  }

  @Test
  void anOverlappingWriteThrowsACorruptionEventAndWritesNothing() throws IOException {
    HostIo io = mock(HostIo.class);
    when(io.size()).thenReturn(8L * CLUSTER);
    HostFile file = new HostFile(io, CLUSTER);
    file.tracker = oneL1Cluster();

    CorruptionEvent event = assertThrows(CorruptionEvent.class,
        () -> file.write(L1_OFFSET + 512, new byte[512], 0, 512, 0));
    verify(io, never()).write(any(ByteBuffer.class), anyLong());

    Qcow2Exception thrown = event.toPublic(true, true);
    MetadataOverlapException overlap = assertInstanceOf(MetadataOverlapException.class, thrown);
    assertEquals(MetadataType.ACTIVE_L1.mask(), overlap.typeMask());
    assertEquals(L1_OFFSET + 512, overlap.hostOffset());
    assertTrue(overlap.getMessage().contains("image marked as corrupt"), overlap.getMessage());
    assertEquals(event.getStackTrace()[0], overlap.getStackTrace()[0], "trace of where the check fired");
  }

  @Test
  void aWriteThatIgnoresTheTypeItHitsIsWritten() throws IOException {
    HostIo io = mock(HostIo.class);
    when(io.size()).thenReturn(8L * CLUSTER);
    when(io.write(any(ByteBuffer.class), anyLong())).thenAnswer(call -> {
      ByteBuffer src = call.getArgument(0);
      int n = src.remaining();
      src.position(src.limit());
      return n;
    });
    HostFile file = new HostFile(io, CLUSTER);
    file.tracker = oneL1Cluster();

    file.write(L1_OFFSET, new byte[512], 0, 512, MetadataType.ACTIVE_L1.mask());
    verify(io).write(any(ByteBuffer.class), anyLong());
  }

  @Test
  void aStructuralEventBecomesAMetadataCorruptionException() throws IOException {
    HostFile file = new HostFile(mock(HostIo.class), CLUSTER);
    CorruptionEvent event = file.corruption("L2 table offset 0x42a00 unaligned (L1 index: 0)");

    MetadataCorruptionException marked = assertInstanceOf(MetadataCorruptionException.class,
        event.toPublic(true, true));
    assertEquals("L2 table offset 0x42a00 unaligned (L1 index: 0)", marked.event());
    assertTrue(marked.markedCorrupt());
    MetadataCorruptionException readOnly = assertInstanceOf(MetadataCorruptionException.class,
        event.toPublic(false, false));
    assertFalse(readOnly.markedCorrupt());
    assertTrue(readOnly.getMessage().endsWith("image opened read-only, not marked as corrupt"),
        readOnly.getMessage());
  }
}
