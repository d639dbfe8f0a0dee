package io.qcow2.format;

/**
 * The image uses a feature this engine does not implement, e.g. {@code "Unsupported qcow2
 * feature(s): external data file"}.
 */
public final class UnsupportedFeatureException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  public UnsupportedFeatureException(String message) {
    super(message);
  }

  static UnsupportedFeatureException features(String names) {
    return new UnsupportedFeatureException("Unsupported qcow2 feature(s): " + names);
  }
}
