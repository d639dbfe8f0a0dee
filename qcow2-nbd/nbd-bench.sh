#!/bin/bash
# W2 and W3 through NBD: one client (qemu-img bench), two engines. Each configuration serves a
# fresh copy of one template image, `qemu-img bench` times the workload against the export, the
# server stops (SIGTERM), and `qemu-img check` must find the image clean.
#
#   qcow2 serve  --overlap-strategy windowed | legacy | runs (overlap-check cached),  and none
#   qemu-nbd -t  --image-opts driver=qcow2,...,overlap-check=cached | none
#
# W2: 1024 sequential 64 KiB writes into a fresh 64 MiB image with 64 KiB clusters.
# W3: 50 000 random 512 B writes into a 64 MiB metadata-preallocated image with 512 B clusters
#     (bench has no random mode: stride 512 x the largest prime <= 4/5 of the sectors, as the bench
#     module's outside reference).
# Both: queue depth 1 (-d 1), -t none, then the server flushes on close. Rounds interleave the
# configurations; the table gives the median and minimum of qemu-img bench's own time per
# configuration, and the load average before and after.
#
# Usage: qcow2-nbd/nbd-bench.sh [ROUNDS]   (default 5; needs qcow2-cli/target/qcow2.jar:
#        mvn -B -q -pl qcow2-cli -am package -DskipTests)
set -euo pipefail
ROUNDS=${1:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
JAR="$HERE/../qcow2-cli/target/qcow2.jar"
[ -f "$JAR" ] || { echo "missing $JAR: mvn -B -q -pl qcow2-cli -am package -DskipTests" >&2; exit 1; }
BASE=$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")
WORK=$(mktemp -d "$BASE/nbd-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SIZE=$((64 << 20))

qemu-img create -q -f qcow2 -o cluster_size=65536 "$WORK/w2.qcow2" $SIZE
qemu-img create -q -f qcow2 -o cluster_size=512,preallocation=metadata "$WORK/w3.qcow2" $SIZE
SECTORS=$((SIZE / 512))
P=$((SECTORS * 4 / 5))
is_prime() { local n=$1 d=2; while [ $((d * d)) -le "$n" ]; do [ $((n % d)) -eq 0 ] && return 1; d=$((d + 1)); done; return 0; }
while ! is_prime $P; do P=$((P - 1)); done
W2_ARGS=(-w -d 1 -t none -s 65536 -S 65536 -c 1024)
W3_ARGS=(-w -d 1 -t none -s 512 -S $((512 * P)) -c 50000)

CONFIGS=(serve:windowed serve:legacy serve:runs serve:none qemu-nbd:cached qemu-nbd:none)

start_server() { # CONFIG IMAGE SOCKET; sets PID
  local kind=${1%%:*} mode=${1#*:}
  if [ "$kind" = serve ]; then
    if [ "$mode" = none ]; then
      java -jar "$JAR" serve --socket "$3" --overlap-check none "$2" >/dev/null 2>"$WORK/server.err" &
    else
      java -jar "$JAR" serve --socket "$3" --overlap-strategy "$mode" --overlap-check cached "$2" \
        >/dev/null 2>"$WORK/server.err" &
    fi
  else
    qemu-nbd -t -k "$3" --image-opts "driver=qcow2,file.filename=$2,overlap-check=$mode" 2>"$WORK/server.err" &
  fi
  PID=$!
}

run_one() { # WORKLOAD CONFIG; appends the seconds to TIMES
  local w=$1 config=$2 img="$WORK/run.qcow2" sock="$WORK/run.sock" out
  cp "$WORK/$w.qcow2" "$img"
  start_server "$config" "$img" "$sock"
  # The socket file appears at bind(), before listen(): wait until a client gets through.
  local up=
  for _ in $(seq 1 300); do
    if [ -S "$sock" ] && qemu-img info -f raw "nbd+unix:///?socket=$sock" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.05
  done
  [ -n "$up" ] || { kill "$PID"; echo "server $config did not start: $(cat "$WORK/server.err")" >&2; exit 1; }
  local -n args="${w^^}_ARGS"
  out=$(qemu-img bench -f raw "${args[@]}" "nbd+unix:///?socket=$sock") || { kill "$PID"; exit 1; }
  kill -TERM "$PID"; wait "$PID" || true
  qemu-img check -q "$img" || { echo "qemu-img check failed after $w $config" >&2; exit 1; }
  rm -f "$img" "$sock"
  TIMES[$w,$config]+="$(sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p' <<<"$out") "
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(qemu-img --version | head -1); $(java -version 2>&1 | head -1); $ROUNDS rounds; images in $BASE"
declare -A TIMES
for round in $(seq 1 "$ROUNDS"); do
  for w in w2 w3; do
    for config in "${CONFIGS[@]}"; do
      run_one $w "$config"
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| workload | server | median s | min s | all runs s |"
echo "| --- | --- | --- | --- | --- |"
for w in w2 w3; do
  for config in "${CONFIGS[@]}"; do
    sorted=$(tr ' ' '\n' <<<"${TIMES[$w,$config]}" | grep . | sort -g)
    n=$(wc -l <<<"$sorted")
    median=$(sed -n "$(((n + 1) / 2))p" <<<"$sorted")
    echo "| ${w^^} | ${config/:/ } | $median | $(head -1 <<<"$sorted") | ${TIMES[$w,$config]}|"
  done
done
