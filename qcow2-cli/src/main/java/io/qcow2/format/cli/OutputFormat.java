package io.qcow2.format.cli;

/** {@code --output}: QEMU's two report formats. */
enum OutputFormat {
  human,
  json
}
