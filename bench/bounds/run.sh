#!/usr/bin/env bash
# Builds the cluster-map instrument (ClusterMapProvider.java) into bench/bounds/target/ as a
# strategy jar and runs the A/B report's W1 and W3 with it beside the given strategies.
# From the repository root, after `mvn -B -q -DskipTests package`:
#   bash bench/bounds/run.sh [STRATEGIES]   (default: none,cluster-map,windowed,runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/bench/bounds/target
rm -rf "$out" && mkdir -p "$out/classes/META-INF/services" "$out/jars"
api=$(ls "$root"/overlap-api/target/overlap-api-*.jar | grep -v -- -tests.jar | head -1)
javac --release 17 -d "$out/classes" -cp "$api" "$root/bench/bounds/ClusterMapProvider.java"
echo bounds.ClusterMapProvider > "$out/classes/META-INF/services/io.qcow2.overlap.OverlapCheckerProvider"
jar cf "$out/jars/cluster-map.jar" -C "$out/classes" .
java -Dqcow2.strategy-path="$out/jars" -cp "$root/bench/target/benchmarks.jar" io.qcow2.bench.AbReport \
  --include 'w1|w3' --strategies "${1:-none,cluster-map,windowed,runs}" --no-memory --no-qemu \
  --out "$out/report"
