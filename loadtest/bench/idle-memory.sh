#!/usr/bin/env bash
# idle-memory.sh: resident memory per idle keep-alive client connection, Weir against nginx.
#
# For each proxy (one worker thread: weir-gateway --threads 1, nginx worker_processes 1, both in
# front of the same weir-loadtest origin, on loopback): start it, warm it up with 2 s of load,
# read its RSS (nginx: master + worker), open IDLE_CONNECTIONS connections with idle-clients.py
# (one GET on each, IDLE_BATCH at a time, then nothing), wait IDLE_SETTLE seconds, read the RSS
# again and check every connection is still open. Per connection = RSS growth ÷ open
# connections. Repeated IDLE_ROUNDS times, proxies alternating; prints each round and the
# medians, and writes target/bench/idle-memory.json. The method is in loadtest/README.md.
#
# Knobs (environment):
#   IDLE_CONNECTIONS   idle connections held (default 10000)
#   IDLE_BATCH         connections sending their request at the same time (default 50)
#   IDLE_ROUNDS        rounds (default 3)
#   IDLE_SETTLE        seconds between the last response and the second reading (default 3)
#   IDLE_TARGETS       proxies, in order (default "weir nginx"; also "bare": the bare Pingora
#                      proxy example, Pingora's defaults, to tell Pingora's share from Weir's)
#   IDLE_SKIP_BUILD=1  use the release binaries as they are
#   IDLE_PROXY_CPU, IDLE_LOAD_CPU   cores (default 0 and 1)
#   CARGO_TARGET_DIR   where the release binaries are (default <repo>/target)
# Raises its open-file limit to 1.25 × IDLE_CONNECTIONS + 1024 (the proxies and the client inherit
# it).
# nginx is installed with apt-get when missing. Bounded: each round's client gives up after
# 120 s; about 30 s per proxy per round with the defaults.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

CONNECTIONS=${IDLE_CONNECTIONS:-10000}
BATCH=${IDLE_BATCH:-50}
ROUNDS=${IDLE_ROUNDS:-3}
SETTLE=${IDLE_SETTLE:-3}
TARGETS=${IDLE_TARGETS:-weir nginx}
PROXY_CPU=${IDLE_PROXY_CPU:-0}
LOAD_CPU=${IDLE_LOAD_CPU:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE_DIR=$TARGET_DIR/release
OUT_DIR=$ROOT/target/bench
LOG_DIR=$OUT_DIR/logs/idle-memory
ORIGIN_PORT=18201
PROXY_PORT=18280
ADMIN_PORT=18290
CLIENT_TIMEOUT=120

for value in "$CONNECTIONS" "$BATCH" "$ROUNDS" "$SETTLE" "$PROXY_CPU" "$LOAD_CPU"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value' (see the knobs at the top of $0)"
done
((CONNECTIONS > 0 && BATCH > 0 && ROUNDS > 0)) || die "IDLE_CONNECTIONS, IDLE_BATCH and IDLE_ROUNDS must be at least 1"
for target in $TARGETS; do
	[[ $target == weir || $target == nginx || $target == bare ]] ||
		die "unknown target '$target' in IDLE_TARGETS (weir, nginx, bare)"
done

STARTED_PIDS=()
WORK_DIR=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$LOG_DIR"

ulimit -n $((CONNECTIONS * 5 / 4 + 1024)) ||
	die "cannot raise the open-file limit to $((CONNECTIONS * 5 / 4 + 1024)) (hard limit $(ulimit -Hn)); lower IDLE_CONNECTIONS"
command -v python3 >/dev/null 2>&1 || die "python3 is needed for the idle client"
if [[ " $TARGETS " == *" nginx "* ]] && ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
	apt_install "the nginx side of the comparison" nginx-light
fi
EXAMPLES=()
if [[ " $TARGETS " == *" bare "* ]]; then EXAMPLES=(--example bare_pingora); fi
if [[ ${IDLE_SKIP_BUILD:-0} != 1 ]]; then
	log "cargo build --release -p weir-gateway -p weir-loadtest --bins ${EXAMPLES[*]}"
	(cd "$ROOT" && cargo build --release -p weir-gateway -p weir-loadtest --bins "${EXAMPLES[@]}")
fi
LOADTEST=$RELEASE_DIR/weir-loadtest
GATEWAY=$RELEASE_DIR/weir-gateway
[[ -x $LOADTEST && -x $GATEWAY ]] || die "release binaries missing in $RELEASE_DIR"

# start_proxy TARGET: starts it on PROXY_PORT, pinned to PROXY_CPU; sets STARTED_PID.
start_proxy() {
	local bin
	case $1 in
	weir)
		sed -e "s/@LISTEN_PORT@/$PROXY_PORT/g" -e "s/@ADMIN_PORT@/$ADMIN_PORT/g" \
			-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" "$BENCH_DIR/weir.toml.template" >"$WORK_DIR/weir.toml"
		start_bg "$LOG_DIR/weir.log" taskset -c "$PROXY_CPU" "$GATEWAY" --config "$WORK_DIR/weir.toml" --threads 1
		;;
	bare)
		start_bg "$LOG_DIR/bare.log" taskset -c "$PROXY_CPU" "$RELEASE_DIR/examples/bare_pingora" \
			--listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$ORIGIN_PORT"
		;;
	nginx)
		bin=$(command -v nginx || echo /usr/sbin/nginx)
		mkdir -p "$WORK_DIR/nginx/logs" "$WORK_DIR/nginx/tmp"
		# Room for every idle connection plus the upstream ones, and a quarter more: with fewer
		# than 1/16 of its connection slots free, nginx closes idle keep-alive connections.
		sed -e "s|@PREFIX@|$WORK_DIR/nginx|g" -e "s/@LISTEN_PORT@/$PROXY_PORT/g" \
			-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" \
			-e "s/worker_connections 4096;/worker_connections $((CONNECTIONS * 5 / 4 + 512));/" \
			"$BENCH_DIR/nginx.conf.template" >"$WORK_DIR/nginx/nginx.conf"
		start_bg "$LOG_DIR/nginx.log" taskset -c "$PROXY_CPU" \
			"$bin" -p "$WORK_DIR/nginx" -e "$WORK_DIR/nginx/logs/error.log" -c "$WORK_DIR/nginx/nginx.conf"
		;;
	esac
}

# The last line of FILE that starts with WORD, without the word; empty when there is none.
last_line() {
	local line found=''
	while read -r line; do
		if [[ $line == "$1 "* ]]; then found=${line#"$1 "}; fi
	done <"$2"
	printf '%s\n' "$found"
}

# measure TARGET ROUND: appends "TARGET ROUND rss_before_kib rss_after_kib open_connections" to
# RESULTS.
measure() {
	local target=$1 round=$2 pid client before after open='' waited=0 out
	local -a pids
	for _ in $(seq 1 50); do port_in_use "$PROXY_PORT" || break; sleep 0.1; done
	start_proxy "$target"
	pid=$STARTED_PID
	wait_ready "$pid" "$PROXY_PORT" || die "$target did not start proxying (log: $LOG_DIR/$target.log)"
	taskset -c "$LOAD_CPU" "$LOADTEST" run --quiet -c 50 -d 2s "http://127.0.0.1:$PROXY_PORT/" >/dev/null
	sleep "$SETTLE"
	mapfile -t pids < <(pid_tree "$pid")
	before=$(rss_kb "${pids[@]}")
	out=$LOG_DIR/client-$target-$round.log
	: >"$out"
	start_bg "$out" taskset -c "$LOAD_CPU" timeout "$CLIENT_TIMEOUT" \
		python3 "$BENCH_DIR/idle-clients.py" "$PROXY_PORT" "$CONNECTIONS" "$BATCH" "$CLIENT_TIMEOUT"
	client=$STARTED_PID
	while [[ -z $(last_line ready "$out") ]]; do
		is_alive "$client" || die "the idle client stopped early (log: $out)"
		((waited < CLIENT_TIMEOUT * 10)) || die "the idle client did not get its responses in ${CLIENT_TIMEOUT}s"
		sleep 0.1
		waited=$((waited + 1))
	done
	sleep "$SETTLE"
	after=$(rss_kb "${pids[@]}")
	sleep 1.1
	open=$(last_line open "$out")
	[[ -n $open ]] || open=$(last_line ready "$out")
	stop_pid "$client"
	stop_pid "$pid"
	log "round $round, $target: RSS ${before} KiB -> ${after} KiB with $open of $CONNECTIONS connections open"
	printf '%s %s %s %s %s\n' "$target" "$round" "$before" "$after" "$open" >>"$RESULTS"
}

log "origin on 127.0.0.1:$ORIGIN_PORT (core $LOAD_CPU)"
start_bg "$LOG_DIR/origin.log" taskset -c "$LOAD_CPU" "$LOADTEST" origin --listen "127.0.0.1:$ORIGIN_PORT" --no-echo
ORIGIN_PID=$STARTED_PID
for _ in $(seq 1 50); do port_in_use "$ORIGIN_PORT" && break; sleep 0.1; done
is_alive "$ORIGIN_PID" || die "the origin did not start (log: $LOG_DIR/origin.log)"

RESULTS=$WORK_DIR/results
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
	for target in $TARGETS; do
		measure "$target" "$round"
	done
done

python3 - "$RESULTS" "$OUT_DIR/idle-memory.json" "$CONNECTIONS" <<'PYEOF'
import json, statistics, sys
results, out, connections = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [line.split() for line in open(results) if line.strip()]
by_target = {}
for target, rnd, before, after, open_ in rows:
    before, after, open_ = int(before), int(after), int(open_)
    by_target.setdefault(target, []).append(
        {"round": int(rnd), "rss_before_kib": before, "rss_after_kib": after, "open": open_,
         "bytes_per_connection": (after - before) * 1024 / max(open_, 1)})
summary = {"connections": connections, "targets": {}}
print(f"{'proxy':<8}{'RSS idle MiB':>14}{'RSS held MiB':>14}{'open':>8}{'KiB/conn':>10}{'÷ nginx':>9}")
base = None
if "nginx" in by_target:
    base = statistics.median(r["bytes_per_connection"] for r in by_target["nginx"])
for target, runs in by_target.items():
    per = statistics.median(r["bytes_per_connection"] for r in runs)
    summary["targets"][target] = {"median_bytes_per_connection": per, "rounds": runs}
    ratio = f"{per / base:.2f}" if base else "-"
    before = statistics.median(r["rss_before_kib"] for r in runs) / 1024
    after = statistics.median(r["rss_after_kib"] for r in runs) / 1024
    opened = min(r["open"] for r in runs)
    print(f"{target:<8}{before:>14.1f}{after:>14.1f}{opened:>8}{per / 1024:>10.2f}{ratio:>9}")
json.dump(summary, open(out, "w"), indent=2)
print(f"(medians of {len(next(iter(by_target.values())))} rounds; JSON: {out})")
PYEOF
