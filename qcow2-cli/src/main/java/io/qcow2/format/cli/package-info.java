/**
 * The {@code qcow2} command line: picocli subcommands that inspect, check, map and convert images
 * with the engine. Not exported; the entry point is {@link io.qcow2.format.cli.Qcow2Command#main},
 * the Main-Class of {@code qcow2-format/target/qcow2.jar} (shaded, both strategies inside).
 *
 * <pre>
 * java -jar qcow2-format/target/qcow2.jar strategies [--strategy-path DIR] [--output=human|json]
 * java -jar qcow2-format/target/qcow2.jar info  [--output=human|json] IMAGE
 * java -jar qcow2-format/target/qcow2.jar check [-r leaks|all] [--output=human|json] [--max-messages=N] IMAGE
 * java -jar qcow2-format/target/qcow2.jar map   [--output=human|json] IMAGE
 * java -jar qcow2-format/target/qcow2.jar metadata [--output=human|json] IMAGE
 * java -jar qcow2-format/target/qcow2.jar convert IMAGE OUT.raw
 * java -jar qcow2-format/target/qcow2.jar create [-o key=value,...] IMAGE [SIZE]
 * java -jar qcow2-format/target/qcow2.jar io [-r] IMAGE -c 'write [-P pattern] [-z] OFF LEN' -c ...
 * java -jar qcow2-format/target/qcow2.jar resize IMAGE [+]SIZE
 * </pre>
 *
 * Every command that opens an image takes, after the command name, {@code --overlap-strategy
 * NAME}, {@code --overlap-check MODE}, {@code -O key=value[,key=value...]}, {@code --strategy-path
 * DIR} (jars of more strategies) and {@code -q}. Errors
 * print {@code qcow2: <message>} and exit with 1; {@code check} exits as {@code qemu-img check}
 * (0 clean, 1 check failed, 2 corruptions, 3 leaks only, 63 not qcow2; with {@code -r}, what is
 * left after the repair). New commands are new subcommand classes
 * listed in {@link io.qcow2.format.cli.Qcow2Command}.
 */
package io.qcow2.format.cli;
