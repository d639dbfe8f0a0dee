/** The {@code qcow2} command-line tool over the engine; shaded into {@code qcow2.jar}. */
module io.qcow2.cli {
  requires io.qcow2.format;
  requires io.qcow2.overlap;
  requires info.picocli;

  opens io.qcow2.format.cli to info.picocli;
}
