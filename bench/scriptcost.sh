#!/usr/bin/env bash
# scriptcost.sh: what one edit costs redis-server, in instructions
# (callgrind's Ir), for each way an edit is recorded: none, history, and
# history plus a change event. Deterministic to a few hundred
# instructions, where time on a shared machine moves by half between
# runs, so it is what decides a change to a script (docs/DECISIONS.md,
# "Counted in instructions, not time").
#
#   bench/scriptcost.sh                  # WARM=500 N=2000 new users per mode
#   RECORDS="history" N=1000 bench/scriptcost.sh
#
# It starts its own redis-server under valgrind on a free loopback port
# (with --hz 1, no active rehashing and no active expiry: those timed
# jobs run more often the slower the machine, and would be counted), and
# stops it on exit. Needs valgrind, redis-server, redis-cli and Go.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WARM=${WARM:-500}
N=${N:-2000}
RECORDS=${RECORDS:-"none history events"}
for tool in valgrind callgrind_control redis-server redis-cli go ss; do
	command -v "$tool" >/dev/null || { echo "scriptcost.sh: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[[ -n ${KEEP:-} ]] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/scriptcost" "$ROOT/bench/scriptcost"
source "$ROOT/bench/free_port.sh"
free_port port
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" \
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
	--hz 1 --activerehashing no --enable-debug-command local \
	--dir "$work" --logfile "$work/redis.log" >"$work/valgrind.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
	[[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break
	sleep 0.1
done
[[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] ||
	{ echo "scriptcost.sh: redis-server under valgrind did not start (see $work/valgrind.log, KEEP=1 keeps it)" >&2; exit 1; }
redis-cli -p "$port" debug set-active-expire 0 >/dev/null

start=0
printf '%-8s %12s\n' record 'Ir per edit'
for record in $RECORDS; do
	"$work/scriptcost" -addr "127.0.0.1:$port" -record "$record" -start "$start" -n "$WARM"
	start=$((start + WARM))
	callgrind_control -z "$pid" >/dev/null 2>&1
	"$work/scriptcost" -addr "127.0.0.1:$port" -record "$record" -start "$start" -n "$N"
	start=$((start + N))
	callgrind_control -d "$record" "$pid" >/dev/null 2>&1
	dump=$(ls -t "$work"/callgrind.out.* | head -1)
	awk -v record="$record" -v n="$N" '/^(totals|summary):/ {printf "%-8s %12.1f\n", record, $2 / n; exit}' "$dump"
done
