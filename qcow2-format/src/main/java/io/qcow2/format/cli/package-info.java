/**
 * The {@code qcow2} command line ({@code java -jar qcow2.jar COMMAND}): picocli subcommands that
 * inspect, check, map and convert images with the engine. Not exported: the entry point is {@link
 * io.qcow2.format.cli.Qcow2Command#main}.
 */
package io.qcow2.format.cli;
