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
 * java -jar qcow2-format/target/qcow2.jar convert [-f FMT] [-O qcow2|raw] [-c] [-o key=value,...] SRC DST
 * java -jar qcow2-format/target/qcow2.jar compare [-f FMT] [-F FMT] [-s] [-p] IMG1 IMG2
 * java -jar qcow2-format/target/qcow2.jar create [-o key=value,...] IMAGE [SIZE]
 * java -jar qcow2-format/target/qcow2.jar io [-r] IMAGE -c 'write [-P pattern] [-c] [-z] OFF LEN' -c ...
 * java -jar qcow2-format/target/qcow2.jar resize [--shrink] IMAGE [+|-]SIZE
 * </pre>
 *
 * Every command that opens an image takes, after the command name, {@code --overlap-strategy
 * NAME}, {@code --overlap-check MODE}, {@code -O key=value[,key=value...]}, {@code --strategy-path
 * DIR} (jars of more strategies) and {@code -q}. Errors
 * print {@code qcow2: <message>} and exit with 1; {@code check} exits as {@code qemu-img check}
 * (0 clean, 1 check failed, 2 corruptions, 3 leaks only, 63 not qcow2; with {@code -r}, what is
 * left after the repair), {@code compare} as {@code qemu-img compare} (0 identical, 1 different,
 * 2 open error, 3 block status error, 4 read error); {@code convert} takes its open options as
 * {@code --open-options} ({@code -O} is the target format there). New commands are new subcommand classes
 * listed in {@link io.qcow2.format.cli.Qcow2Command}.
 */
package io.qcow2.format.cli;
