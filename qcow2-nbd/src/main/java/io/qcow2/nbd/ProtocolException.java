package io.qcow2.nbd;

import java.io.IOException;

/** A client broke the protocol in a way that leaves no reply to send: the server disconnects it. */
final class ProtocolException extends IOException {
  private static final long serialVersionUID = 1L;

  ProtocolException(String message) {
    super(message);
  }
}
