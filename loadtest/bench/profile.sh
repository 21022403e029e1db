#!/usr/bin/env bash
# profile.sh: where a proxied request's CPU goes, for Weir, bare Pingora (with and without Weir's
# headers and timeouts) and nginx. Three measurements per target, same origin as proxy-bench.sh:
#   1. user and system CPU µs per request under wrk load (from /proc/PID/stat),
#   2. instructions per request under valgrind's callgrind (deterministic: the same on a busy
#      machine), counted over a fixed load after start-up; the profiles stay in target/bench/ for
#      callgrind_annotate, and
#   3. heap allocations and bytes allocated per request (not for nginx): the same proxy built as
#      the `alloc_count` example (a counting allocator around mimalloc), totals read from its
#      report port after a warm-up and after a fixed load.
# Requires the release binaries (cargo build --release -p weir-loadtest -p weir-gateway --bins
# --example bare_pingora --example alloc_count), wrk, valgrind and nginx (Debian packages).
# Bounded: about 2 minutes.
#
# Environment: PROFILE_DURATION (s of wrk load per measurement, default 6),
# PROFILE_TARGETS (subset of: nginx bare ablation weir weir-log bare-nosteal; weir-log is weir
# with the JSON access log on, to a file; bare-nosteal is bare on Pingora's work_stealing = false
# runtime), CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release
OUT=$ROOT/target/bench
DURATION=${PROFILE_DURATION:-6}
TARGETS=${PROFILE_TARGETS:-nginx bare ablation weir}
ORIGIN_PORT=18001
WORK=$(mktemp -d)
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk valgrind callgrind_annotate nginx taskset; do
	command -v "$tool" >/dev/null || { echo "profile.sh: $tool is missing (apt-get install wrk valgrind nginx-light)" >&2; exit 1; }
done
for bin in "$RELEASE/weir-gateway" "$RELEASE/weir-loadtest" "$RELEASE/examples/bare_pingora" "$RELEASE/examples/alloc_count"; do
	[[ -x $bin ]] || { echo "profile.sh: $bin is missing; build the release binaries first" >&2; exit 1; }
done
mkdir -p "$OUT" "$WORK/nginx/logs" "$WORK/nginx/tmp"

sed -e "s/@LISTEN_PORT@/18080/g" -e "s/@ADMIN_PORT@/18901/g" -e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" \
	"$ROOT/loadtest/bench/weir.toml.template" >"$WORK/weir.toml"
# weir-log: the same with the access log on, to a file (emptied before each run).
sed -e "s#^enabled = false#enabled = true\npath = \"$WORK/access.log\"#" "$WORK/weir.toml" >"$WORK/weir-log.toml"
sed -e "s#@PREFIX@#$WORK/nginx#g" -e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" -e "s/@LISTEN_PORT@/18081/g" \
	-e "s/master_process on/master_process off/" "$ROOT/loadtest/bench/nginx.conf.template" >"$WORK/nginx/nginx.conf"

command_for() {
	case $1 in
	nginx) echo "18081 nginx -p $WORK/nginx -c $WORK/nginx/nginx.conf" ;;
	bare) echo "18082 $RELEASE/examples/bare_pingora --listen 127.0.0.1:18082 --upstream 127.0.0.1:$ORIGIN_PORT" ;;
	ablation) echo "18082 $RELEASE/examples/bare_pingora --listen 127.0.0.1:18082 --upstream 127.0.0.1:$ORIGIN_PORT --timeouts --headers" ;;
	bare-nosteal) echo "18082 $RELEASE/examples/bare_pingora --listen 127.0.0.1:18082 --upstream 127.0.0.1:$ORIGIN_PORT --no-work-stealing" ;;
	weir) echo "18080 $RELEASE/weir-gateway --config $WORK/weir.toml --threads 1" ;;
	weir-log) echo "18080 $RELEASE/weir-gateway --config $WORK/weir-log.toml --threads 1" ;;
	*) echo "profile.sh: unknown target $1" >&2; exit 1 ;;
	esac
}

# The same proxy under the counting allocator; nothing for nginx.
ALLOC_PORT=18990
counted_command_for() {
	local counted="$RELEASE/examples/alloc_count --report 127.0.0.1:$ALLOC_PORT"
	case $1 in
	bare) echo "18082 $counted bare --listen 127.0.0.1:18082 --upstream 127.0.0.1:$ORIGIN_PORT" ;;
	ablation) echo "18082 $counted bare --listen 127.0.0.1:18082 --upstream 127.0.0.1:$ORIGIN_PORT --timeouts --headers" ;;
	bare-nosteal) echo "18082 $counted bare --listen 127.0.0.1:18082 --upstream 127.0.0.1:$ORIGIN_PORT --no-work-stealing" ;;
	weir) echo "18080 $counted weir --config $WORK/weir.toml --threads 1" ;;
	weir-log) echo "18080 $counted weir --config $WORK/weir-log.toml --threads 1" ;;
	*) echo "" ;;
	esac
}

# alloc_totals: "ALLOCATIONS BYTES" so far in the counted proxy.
alloc_totals() {
	curl -fs "http://127.0.0.1:$ALLOC_PORT/" | awk '/^allocations/ { a = $2 } /^bytes/ { b = $2 } END { print a, b }'
}

wait_port() {
	for _ in $(seq 200); do
		curl -fs -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	return 1
}

origin_requests() {
	curl -fs "http://127.0.0.1:$ORIGIN_PORT/_origin/stats" | sed 's/.*"requests":\([0-9]*\).*/\1/'
}

taskset -c 1 "$RELEASE/weir-loadtest" origin --listen "127.0.0.1:$ORIGIN_PORT" --region local \
	--name bench --threads 1 --no-echo 2>/dev/null &
PIDS+=($!)
wait_port "$ORIGIN_PORT" || { echo "profile.sh: origin did not start" >&2; exit 1; }

printf '%-12s %12s %12s %18s %12s %12s\n' target "user µs/req" "sys µs/req" "instructions/req" "allocs/req" "bytes/req"
for target in $TARGETS; do
	read -r port cmd <<<"$(command_for "$target")"
	: >"$WORK/access.log"

	# 1. CPU split under load.
	# shellcheck disable=SC2086 # the command is a word list on purpose
	taskset -c 0 $cmd >/dev/null 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" || { echo "profile.sh: $target did not start" >&2; exit 1; }
	taskset -c 1 wrk -t1 -c50 -d1s "http://127.0.0.1:$port/" >/dev/null
	read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
	before=$(origin_requests)
	taskset -c 1 wrk -t1 -c50 -d"${DURATION}s" "http://127.0.0.1:$port/" >/dev/null
	read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
	served=$(($(origin_requests) - before))
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	tck=$(getconf CLK_TCK)
	user=$(awk -v d=$((u1 - u0)) -v n="$served" -v t="$tck" 'BEGIN { printf "%.1f", d * 1e6 / t / n }')
	sys=$(awk -v d=$((s1 - s0)) -v n="$served" -v t="$tck" 'BEGIN { printf "%.1f", d * 1e6 / t / n }')

	# 2. Instructions per request: dump once after start-up, once after a fixed load.
	profile=$OUT/callgrind-$target
	rm -f "$profile".*
	# shellcheck disable=SC2086
	valgrind --tool=callgrind --callgrind-out-file="$profile" $cmd >/dev/null 2>"$WORK/valgrind-$target.log" &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" || { echo "profile.sh: $target did not start under valgrind" >&2; exit 1; }
	callgrind_control -d "$pid" >/dev/null 2>&1
	before=$(origin_requests)
	taskset -c 1 wrk -t1 -c4 -d"${DURATION}s" "http://127.0.0.1:$port/" >/dev/null
	served=$(($(origin_requests) - before))
	callgrind_control -d "$pid" >/dev/null 2>&1
	kill -INT "$pid"
	wait "$pid" 2>/dev/null || true
	total=$(callgrind_annotate "$profile.2" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	instructions=$((total / served))

	# 3. Allocations per request, after a warm-up, over a fixed load.
	allocs=- bytes=-
	read -r port cmd <<<"$(counted_command_for "$target")"
	if [[ -n $cmd ]]; then
		# shellcheck disable=SC2086
		taskset -c 0 $cmd >/dev/null 2>&1 &
		pid=$!
		PIDS+=("$pid")
		wait_port "$port" || { echo "profile.sh: $target did not start under alloc_count" >&2; exit 1; }
		taskset -c 1 wrk -t1 -c4 -d1s "http://127.0.0.1:$port/" >/dev/null
		read -r a0 b0 < <(alloc_totals)
		before=$(origin_requests)
		taskset -c 1 wrk -t1 -c4 -d"${DURATION}s" "http://127.0.0.1:$port/" >/dev/null
		read -r a1 b1 < <(alloc_totals)
		served=$(($(origin_requests) - before))
		kill -INT "$pid"
		wait "$pid" 2>/dev/null || true
		allocs=$(awk -v d=$((a1 - a0)) -v n="$served" 'BEGIN { printf "%.1f", d / n }')
		bytes=$(awk -v d=$((b1 - b0)) -v n="$served" 'BEGIN { printf "%.0f", d / n }')
	fi
	printf '%-12s %12s %12s %18s %12s %12s\n' "$target" "$user" "$sys" "$instructions" "$allocs" "$bytes"
done
echo "(callgrind profiles of the load phase: $OUT/callgrind-<target>.2)"
