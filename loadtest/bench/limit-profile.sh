#!/usr/bin/env bash
# limit-profile.sh: what a rate limit (or the resilience policies, weir-resilience) that never
# triggers costs Weir per request, counted in
# instructions under valgrind's callgrind, which do not depend on what else the machine is doing
# (wall-clock CPU on the shared development VM varies by ±15% between runs). Runs plain Weir and
# proxy-bench.sh's limit targets with the same configs (weir.toml.template + TARGET.toml.part)
# and the method of profile.sh: one callgrind dump after start-up and a short warm-up, one after
# a fixed load (wrk -t1 -c4), instructions between the two ÷ requests the origin served.
#
# weir-global runs with `redis.timeout = "1s"` instead of the default 5 ms: under callgrind the
# gateway is about 50 times slower, and with 5 ms a share of the requests would time out and be
# decided by the local fallback instead of Redis. The script checks that none was.
#
# Needs the release binaries (cargo build --release -p weir-loadtest -p weir-gateway --bins),
# wrk, curl, valgrind, and redis-server for weir-global. About 20 s per target.
#
# Environment:
#   PROFILE_DURATION   seconds of load between the two dumps (default 6)
#   PROFILE_TARGETS    subset of: weir weir-limit weir-limit-quiet weir-global weir-resilience
#                      weir-before (default: all; weir-before only with WEIR_BEFORE_BIN)
#   WEIR_BEFORE_BIN    a weir-gateway built from an older commit, profiled as weir-before with
#                      the plain weir config (e.g. the build before the resilience policies)
#   CARGO_TARGET_DIR   where cargo put the binaries (default <repo>/target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$ROOT/loadtest/bench
RELEASE_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
OUT_DIR=$ROOT/target/bench
DURATION=${PROFILE_DURATION:-6}
ALL_TARGETS='weir weir-limit weir-limit-quiet weir-global weir-resilience'
if [[ -n ${WEIR_BEFORE_BIN:-} ]]; then ALL_TARGETS="weir-before $ALL_TARGETS"; fi
TARGETS=${PROFILE_TARGETS:-$ALL_TARGETS}

ORIGIN_PORT=18001
WEIR_PORT=18080
WEIR_ADMIN_PORT=18901

WORK_DIR=''
STARTED_PIDS=()

# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

if ! [[ $DURATION =~ ^[0-9]+$ ]] || ((DURATION == 0)); then
	die "PROFILE_DURATION must be a whole number of seconds, at least 1; got '$DURATION'"
fi
for target in $TARGETS; do
	[[ " $ALL_TARGETS " == *" $target "* ]] || die "unknown target '$target' in PROFILE_TARGETS (known: $ALL_TARGETS)"
done
for tool in wrk curl valgrind callgrind_control callgrind_annotate taskset; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install wrk curl valgrind)"
done
if [[ " $TARGETS " == *" weir-global "* ]]; then
	command -v redis-server >/dev/null 2>&1 || die "redis-server is missing (Debian: apt-get install redis-server)"
fi
for bin in "$RELEASE_DIR/weir-gateway" "$RELEASE_DIR/weir-loadtest"; do
	[[ -x $bin ]] || die "$bin is missing; build it first: cargo build --release -p weir-loadtest -p weir-gateway --bins"
done

# is_alive, stop_pid, start_bg, cleanup, port_in_use, metric_sum, start_bench_redis

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-limit-profile.XXXXXX")

# Waits up to 60 s (valgrind starts slowly) until http://127.0.0.1:PORT/ answers 200; fails
# early if PID exits.
wait_ready() {
	local pid=$1 port=$2
	for _ in {1..600}; do
		is_alive "$pid" || return 1
		[[ $(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$port/") == 200 ]] && return 0
		sleep 0.1
	done
	return 1
}

origin_requests() {
	curl -fs "http://127.0.0.1:$ORIGIN_PORT/_origin/stats" | sed 's/.*"requests":\([0-9]*\).*/\1/'
}

# Prints "admitted store_error" of weir_ratelimit_decisions_total so far.
decisions() {
	curl -fs -m 10 "http://127.0.0.1:$WEIR_ADMIN_PORT/metrics" | awk '
		/^weir_ratelimit_decisions_total\{/ && /decision="admitted"/ { a += $NF }
		/^weir_ratelimit_decisions_total\{/ && /decision="store_error"/ { e += $NF }
		END { printf "%.0f %.0f\n", a, e }'
}

# In the background and waited for, so that a signal to the script stops it at once.
load() {
	taskset -c 1 timeout $(($1 + 30)) wrk -t1 -c4 -d"$1s" "http://127.0.0.1:$WEIR_PORT/" >/dev/null 2>&1 &
	STARTED_PIDS+=("$!")
	wait "$!"
}

# A private redis-server on the load core (start_bench_redis in lib.sh); sets REDIS_PORT.
start_redis() {
	start_bench_redis 1 "$OUT_DIR/logs/limit-profile-redis.log" ||
		die "redis-server did not start on any of 20 ports (log: $OUT_DIR/logs/limit-profile-redis.log)"
}

for port in "$ORIGIN_PORT" "$WEIR_PORT" "$WEIR_ADMIN_PORT"; do
	if port_in_use "$port"; then
		die "port $port is already in use (limit-profile uses $ORIGIN_PORT, $WEIR_PORT, $WEIR_ADMIN_PORT)"
	fi
done
mkdir -p "$OUT_DIR/logs"

taskset -c 1 "$RELEASE_DIR/weir-loadtest" origin --listen "127.0.0.1:$ORIGIN_PORT" --region local \
	--name bench --threads 1 --no-echo >"$OUT_DIR/logs/limit-profile-origin.log" 2>&1 &
ORIGIN_PID=$!
STARTED_PIDS+=("$ORIGIN_PID")
wait_ready "$ORIGIN_PID" "$ORIGIN_PORT" || die "origin did not start"
REDIS_PORT=''
if [[ " $TARGETS " == *" weir-global "* ]]; then start_redis; fi

declare -A INSTRUCTIONS=()
printf '%-18s %10s %18s %10s\n' target requests instructions/req 'vs weir'
for target in $ALL_TARGETS; do
	[[ " $TARGETS " == *" $target "* ]] || continue
	config=$OUT_DIR/logs/limit-profile-$target.toml
	{
		cat "$BENCH_DIR/weir.toml.template"
		if [[ $target != weir && $target != weir-before ]]; then cat "$BENCH_DIR/$target.toml.part"; fi
	} | sed -e "s/@LISTEN_PORT@/$WEIR_PORT/g" -e "s/@ADMIN_PORT@/$WEIR_ADMIN_PORT/g" \
		-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" -e "s/@REDIS_PORT@/$REDIS_PORT/g" \
		-e 's|^url = "redis://.*"$|&\ntimeout = "1s"|' >"$config"

	profile=$OUT_DIR/callgrind-limit-$target
	rm -f "$profile".*
	bin=$RELEASE_DIR/weir-gateway
	if [[ $target == weir-before ]]; then bin=$WEIR_BEFORE_BIN; fi
	valgrind --tool=callgrind --callgrind-out-file="$profile" "$bin" \
		--config "$config" --threads 1 >/dev/null 2>"$OUT_DIR/logs/limit-profile-$target.log" &
	pid=$!
	STARTED_PIDS+=("$pid")
	wait_ready "$pid" "$WEIR_PORT" || die "$target did not start under valgrind (log: $OUT_DIR/logs/limit-profile-$target.log)"
	load 2 # the first requests open connections (to the origin, to Redis): not counted
	callgrind_control -d "$pid" >/dev/null 2>&1
	read -r admitted0 errors0 < <(decisions)
	before=$(origin_requests)
	load "$DURATION"
	served=$(($(origin_requests) - before))
	read -r admitted1 errors1 < <(decisions)
	callgrind_control -d "$pid" >/dev/null 2>&1
	stop_pid "$pid" INT
	total=$(callgrind_annotate "$profile.2" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	if [[ -z $total ]] || ((served == 0)); then
		die "$target: no callgrind total or no request served ($profile.2)"
	fi
	INSTRUCTIONS[$target]=$((total / served))
	vs=-
	if [[ -n ${INSTRUCTIONS[weir]:-} ]]; then
		vs=$(awk -v a="${INSTRUCTIONS[$target]}" -v b="${INSTRUCTIONS[weir]}" 'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }')
	fi
	printf '%-18s %10s %18s %10s\n' "$target" "$served" "${INSTRUCTIONS[$target]}" "$vs"
	if [[ $target == weir-limit* || $target == weir-global ]]; then
		if ((admitted1 - admitted0 == 0)); then
			log "$target: WARNING: the policy admitted no request during the load; the count is not a limit's"
		fi
		if ((errors1 - errors0 > 0)); then
			log "$target: WARNING: $((errors1 - errors0)) requests went to the local fallback, not Redis"
		fi
	fi
done
echo "(callgrind profiles of the load phase: $OUT_DIR/callgrind-limit-<target>.2)"
