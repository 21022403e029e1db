#!/usr/bin/env bash
# side-by-side.sh: Weir, nginx and HAProxy in front of the same origin, measured by the same load
# from weir-loadtest in one run:
#   1. closed model: each proxy's maximum requests/s with SBS_CONNECTIONS connections;
#   2. open model at 50% and 80% of the SLOWEST proxy's maximum: p50, p99, p99.9 (corrected
#      for coordinated omission), the same rate for every proxy.
# Prints a table with ratios to nginx and writes target/bench/side-by-side.json; the reports of
# every run are kept in target/bench/logs/side-by-side/. The method is in loadtest/README.md.
#
# The proxy runs pinned to core SBS_PROXY_CPU (default 0), the origin and the load generator to
# SBS_LOAD_CPU (default 1). Every proxy gets one worker thread (nginx worker_processes 1, HAProxy
# nbthread 1, weir-gateway --threads 1) and keep-alive to the origin. nginx and HAProxy are
# installed with apt-get when missing (as root, or with sudo).
#
# Knobs (environment):
#   SBS_DURATION      seconds per measured run (default 10)
#   SBS_WARMUP        seconds of warm-up before each measured run (default 2)
#   SBS_CONNECTIONS   connections of the load generator (default 50)
#   SBS_LOADS         open-model loads in % of the slowest maximum (default "50 80")
#   SBS_TARGETS       proxies, in order (default "weir nginx haproxy")
#   SBS_SKIP_BUILD=1  use the release binaries as they are
#   SBS_PROXY_CPU, SBS_LOAD_CPU   cores
#   CARGO_TARGET_DIR  where the release binaries are (default <repo>/target)
# Bounded: about (2 + number of loads) × number of targets × (duration + warm-up + 2) seconds,
# 2.5 minutes with the defaults, plus the build.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

DURATION=${SBS_DURATION:-10}
WARMUP=${SBS_WARMUP:-2}
CONNECTIONS=${SBS_CONNECTIONS:-50}
LOADS=${SBS_LOADS:-50 80}
TARGETS=${SBS_TARGETS:-weir nginx haproxy}
PROXY_CPU=${SBS_PROXY_CPU:-0}
LOAD_CPU=${SBS_LOAD_CPU:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE_DIR=$TARGET_DIR/release
OUT_DIR=$ROOT/target/bench
LOG_DIR=$OUT_DIR/logs/side-by-side
ORIGIN_PORT=18101
PROXY_PORT=18180
ADMIN_PORT=18190


STARTED_PIDS=()
WORK_DIR=$(mktemp -d)
trap cleanup EXIT
mkdir -p "$LOG_DIR"

# ---------------------------------------------------------------- what it needs

install_packages() {
	local -a sudo=()
	if ((EUID != 0)); then sudo=(sudo); fi
	log "installing $* with apt-get"
	"${sudo[@]}" apt-get update -q >/dev/null
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

missing=()
for target in $TARGETS; do
	case $target in
	nginx) command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light) ;;
	haproxy) command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy) ;;
	weir) ;;
	*) die "unknown target '$target' in SBS_TARGETS (weir, nginx, haproxy)" ;;
	esac
done
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if ((${#missing[@]})); then install_packages "${missing[@]}"; fi
command -v taskset >/dev/null 2>&1 || die "taskset (util-linux) is needed to pin processes to cores"

if [[ ${SBS_SKIP_BUILD:-0} != 1 ]]; then
	log "cargo build --release -p weir-loadtest -p weir-gateway --bins"
	(cd "$ROOT" && cargo build --release -p weir-loadtest -p weir-gateway --bins) || die "build failed"
fi
LOADTEST=$RELEASE_DIR/weir-loadtest
GATEWAY=$RELEASE_DIR/weir-gateway
[[ -x $LOADTEST && -x $GATEWAY ]] || die "release binaries missing in $RELEASE_DIR"

# ---------------------------------------------------------------- processes

# start_proxy TARGET: starts it on PROXY_PORT, pinned to PROXY_CPU; sets STARTED_PID.
start_proxy() {
	local target=$1 bin
	case $target in
	weir)
		sed -e "s/@LISTEN_PORT@/$PROXY_PORT/g" -e "s/@ADMIN_PORT@/$ADMIN_PORT/g" \
			-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" "$BENCH_DIR/weir.toml.template" >"$WORK_DIR/weir.toml"
		start_bg "$LOG_DIR/weir.log" taskset -c "$PROXY_CPU" "$GATEWAY" --config "$WORK_DIR/weir.toml" --threads 1
		;;
	nginx)
		bin=$(command -v nginx || echo /usr/sbin/nginx)
		mkdir -p "$WORK_DIR/nginx/logs" "$WORK_DIR/nginx/tmp"
		sed -e "s|@PREFIX@|$WORK_DIR/nginx|g" -e "s/@LISTEN_PORT@/$PROXY_PORT/g" \
			-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" "$BENCH_DIR/nginx.conf.template" >"$WORK_DIR/nginx/nginx.conf"
		start_bg "$LOG_DIR/nginx.log" taskset -c "$PROXY_CPU" \
			"$bin" -p "$WORK_DIR/nginx" -e "$WORK_DIR/nginx/logs/error.log" -c "$WORK_DIR/nginx/nginx.conf"
		;;
	haproxy)
		bin=$(command -v haproxy || echo /usr/sbin/haproxy)
		sed -e "s/@LISTEN_PORT@/$PROXY_PORT/g" -e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" \
			"$BENCH_DIR/haproxy.cfg.template" >"$WORK_DIR/haproxy.cfg"
		start_bg "$LOG_DIR/haproxy.log" taskset -c "$PROXY_CPU" "$bin" -db -f "$WORK_DIR/haproxy.cfg"
		;;
	esac
}

# load ARGS...: one weir-loadtest run through the proxy, pinned to the load core.
load() {
	taskset -c "$LOAD_CPU" "$LOADTEST" run --quiet -c "$CONNECTIONS" "$@" "http://127.0.0.1:$PROXY_PORT/"
}

# measure TARGET NAME [ARGS...]: starts TARGET, warms it up, runs the measured load with ARGS
# (its JSON report in LOG_DIR/TARGET-NAME.json), stops it.
measure() {
	local target=$1 name=$2 pid
	shift 2
	for pid in $(seq 1 50); do port_in_use "$PROXY_PORT" || break; sleep 0.1; done
	start_proxy "$target"
	pid=$STARTED_PID
	wait_ready "$pid" "$PROXY_PORT" || die "$target did not start proxying (log: $LOG_DIR/$target.log)"
	load -d "${WARMUP}s" >/dev/null
	log "$target, $name: weir-loadtest run -c $CONNECTIONS -d ${DURATION}s $*"
	load -d "${DURATION}s" "$@" --json "$LOG_DIR/$target-$name.json" >"$LOG_DIR/$target-$name.txt"
	stop_pid "$pid"
}

# field FILE EXPR: a figure from a JSON report (EXPR in Python over `r`).
field() {
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---------------------------------------------------------------- the run

log "origin on 127.0.0.1:$ORIGIN_PORT (core $LOAD_CPU)"
start_bg "$LOG_DIR/origin.log" taskset -c "$LOAD_CPU" "$LOADTEST" origin --listen "127.0.0.1:$ORIGIN_PORT" --no-echo
ORIGIN_PID=$STARTED_PID
for _ in $(seq 1 50); do port_in_use "$ORIGIN_PORT" && break; sleep 0.1; done
is_alive "$ORIGIN_PID" || die "the origin did not start (log: $LOG_DIR/origin.log)"

declare -A MAX=()
slowest=''
for target in $TARGETS; do
	measure "$target" closed
	MAX[$target]=$(field "$LOG_DIR/$target-closed.json" 'round(r["summary"]["throughput"])')
	if [[ -z $slowest ]] || ((MAX[$target] < slowest)); then slowest=${MAX[$target]}; fi
done
log "slowest maximum: $slowest requests/s"

for pct in $LOADS; do
	rate=$((slowest * pct / 100))
	for target in $TARGETS; do
		measure "$target" "open$pct" --rate "$rate"
	done
done

# ---------------------------------------------------------------- the table

python3 - "$LOG_DIR" "$OUT_DIR/side-by-side.json" "$slowest" "$CONNECTIONS" "$DURATION" "$TARGETS" "$LOADS" <<'PYEOF'
import json, sys
log_dir, out, slowest, connections, duration, targets, loads = sys.argv[1:8]
targets, loads = targets.split(), [int(x) for x in loads.split()]
def report(t, name):
    return json.load(open(f"{log_dir}/{t}-{name}.json"))
def pct(r, p):
    return next((x["ms"] for x in r["latency"]["corrected"]["percentiles"] if x["percentile"] == p), None)
result = {"connections": int(connections), "duration_s": float(duration),
          "slowest_max_rps": int(slowest), "targets": {}}
for t in targets:
    closed = report(t, "closed")
    entry = {"max_rps": closed["summary"]["throughput"], "closed_errors": closed["summary"]["error_rate"],
             "closed_p99_ms": pct(closed, 99.0), "open": {}}
    for load in loads:
        r = report(t, f"open{load}")
        entry["open"][str(load)] = {"rate": r["summary"]["target_rate"], "sent_rate": r["summary"]["sent_rate"],
            "p50_ms": pct(r, 50.0), "p99_ms": pct(r, 99.0), "p99_9_ms": pct(r, 99.9),
            "error_rate": r["summary"]["error_rate"]}
    result["targets"][t] = entry
base = result["targets"].get("nginx")
def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"
print(f"\nclosed model, {connections} connections, {duration} s each")
print(f"{'proxy':<10}{'max req/s':>12}{'÷ nginx':>10}{'p99 ms':>10}")
for t, e in result["targets"].items():
    print(f"{t:<10}{e['max_rps']:>12.0f}{ratio(e['max_rps'], base and base['max_rps']):>10}{e['closed_p99_ms'] or 0:>10.2f}")
for load in loads:
    rate = next(iter(result["targets"].values()))["open"][str(load)]["rate"]
    print(f"\nopen model at {load}% of the slowest maximum: {rate:.0f} req/s (latency corrected, ms)")
    print(f"{'proxy':<10}{'p50':>9}{'p99':>9}{'p99.9':>9}{'p99 ÷ nginx':>13}{'errors':>9}")
    for t, e in result["targets"].items():
        o = e["open"][str(load)]
        b = base and base["open"][str(load)]["p99_ms"]
        print(f"{t:<10}{o['p50_ms']:>9.3f}{o['p99_ms']:>9.3f}{o['p99_9_ms']:>9.3f}{ratio(o['p99_ms'], b):>13}{o['error_rate'] * 100:>8.2f}%")
json.dump(result, open(out, "w"), indent=2)
print(f"\nJSON: {out}; reports: {log_dir}")
PYEOF
