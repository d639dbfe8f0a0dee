package io.qcow2.format;

import java.io.Closeable;
import java.io.IOException;

/** What a backing file offers its overlay: guest reads and extents. */
interface GuestImage extends Closeable {
  long virtualSize();

  void read(long guestOffset, byte[] buf, int off, int len) throws IOException;

  /** The extent that starts at {@code guestOffset}, at most {@code maxLength} long. */
  Extent extentAt(long guestOffset, long maxLength) throws IOException;
}
