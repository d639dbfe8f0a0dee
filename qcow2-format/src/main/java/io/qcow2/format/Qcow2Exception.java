package io.qcow2.format;

import java.io.IOException;

/** Base class of the errors this engine reports about an image. */
public class Qcow2Exception extends IOException {
  private static final long serialVersionUID = 1L;

  public Qcow2Exception(String message) {
    super(message);
  }

  public Qcow2Exception(String message, Throwable cause) {
    super(message, cause);
  }
}
