package io.qcow2.format.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs the {@code qcow2} command line in-process and captures what it prints. */
final class Cli {
  private Cli() {}

  record Result(int exitCode, String out, String err) {
    @Override
    public String toString() {
      return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
  }

  static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int status = Qcow2Command.execute(args, new PrintWriter(out), new PrintWriter(err));
    return new Result(status, out.toString(), err.toString());
  }
}
