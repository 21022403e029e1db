#!/usr/bin/env bash
# scale-bench.sh: does Weir's cost per request stay flat as its config grows, and does reloading
# a large config disturb the traffic in flight?
#   1. Throughput: the same closed-model load (weir-loadtest run -c SCALE_CONNECTIONS) through
#      Weir with 1 route and with SCALE_ROUTES routes (40% exact hosts, 20% wildcard hosts, 40%
#      path prefixes on any host, and the catch-all; the request matches a path prefix among
#      the ~4,000 of the any-host group, the largest), SCALE_ROUNDS rounds alternating the two;
#      requests/s and CPU per request (the gateway's utime+stime ÷ responses), medians, ratios.
#   2. Reload: Weir with SCALE_ROUTES routes under an open-model load at SCALE_RELOAD_PCT % of
#      its median maximum from 1, for SCALE_RELOAD_DURATION seconds, first without reloads
#      (control), then with SCALE_RELOADS reloads spread over the run: each replaces the config
#      file with one that differs by one route and sends SIGHUP. Reports each reload's apply
#      time (the `apply_ms` of the gateway's "config applied" log line: parse, validate,
#      compile, publish), the time until /status shows the new version (polled), and p99 and
#      max latency of the run against the control, and of the seconds with a reload (and the
#      next) against the others.
# Prints the figures and writes target/bench/scale-bench.json; every report and log is kept in
# target/bench/logs/scale-bench/. The method is in loadtest/README.md ("Scale and memory").
#
# The gateway runs pinned to SCALE_PROXY_CPU (default 0) with one worker thread, the origin and
# the load generator to SCALE_LOAD_CPU (default 1), all on loopback.
#
# Knobs (environment):
#   SCALE_ROUTES            routes of the large config (default 10000)
#   SCALE_ROUNDS            throughput rounds (default 3)
#   SCALE_DURATION          seconds per throughput run (default 8), after SCALE_WARMUP (2)
#   SCALE_CONNECTIONS       connections of the load generator (default 50)
#   SCALE_RELOAD_PCT        open-model rate, % of the 1-route maximum (default 50)
#   SCALE_RELOAD_DURATION   seconds of each open-model run (default 24)
#   SCALE_RELOADS           reloads during the second run (default 3)
#   SCALE_SKIP_BUILD=1      use the release binaries as they are
#   SCALE_PROXY_CPU, SCALE_LOAD_CPU   cores
#   CARGO_TARGET_DIR        where the release binaries are (default <repo>/target)
# Bounded: about 2 × SCALE_ROUNDS × (SCALE_DURATION + SCALE_WARMUP + 3) + 2 ×
# (SCALE_RELOAD_DURATION + 5) seconds, 2.3 minutes with the defaults, plus the build.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

ROUTES=${SCALE_ROUTES:-10000}
ROUNDS=${SCALE_ROUNDS:-3}
DURATION=${SCALE_DURATION:-8}
WARMUP=${SCALE_WARMUP:-2}
CONNECTIONS=${SCALE_CONNECTIONS:-50}
RELOAD_PCT=${SCALE_RELOAD_PCT:-50}
RELOAD_DURATION=${SCALE_RELOAD_DURATION:-24}
RELOADS=${SCALE_RELOADS:-3}
PROXY_CPU=${SCALE_PROXY_CPU:-0}
LOAD_CPU=${SCALE_LOAD_CPU:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE_DIR=$TARGET_DIR/release
OUT_DIR=$ROOT/target/bench
LOG_DIR=$OUT_DIR/logs/scale-bench
ORIGIN_PORT=18301
PROXY_PORT=18380
ADMIN_PORT=18390
CLK_TCK=$(getconf CLK_TCK)

for value in "$ROUTES" "$ROUNDS" "$DURATION" "$WARMUP" "$CONNECTIONS" "$RELOAD_PCT" \
	"$RELOAD_DURATION" "$RELOADS" "$PROXY_CPU" "$LOAD_CPU"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value' (see the knobs at the top of $0)"
done
((ROUTES >= 10 && ROUNDS > 0 && DURATION > 0 && RELOAD_PCT > 0)) ||
	die "SCALE_ROUTES must be at least 10, SCALE_ROUNDS, SCALE_DURATION and SCALE_RELOAD_PCT at least 1"
((RELOAD_DURATION >= 4 * (RELOADS + 1))) || die "SCALE_RELOAD_DURATION must be at least 4 s per reload, plus 4"

STARTED_PIDS=()
WORK_DIR=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$LOG_DIR"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to write the configs and read the reports"

if [[ ${SCALE_SKIP_BUILD:-0} != 1 ]]; then
	log "cargo build --release -p weir-gateway -p weir-loadtest --bins"
	(cd "$ROOT" && cargo build --release -p weir-gateway -p weir-loadtest --bins)
fi
LOADTEST=$RELEASE_DIR/weir-loadtest
GATEWAY=$RELEASE_DIR/weir-gateway
[[ -x $LOADTEST && -x $GATEWAY ]] || die "release binaries missing in $RELEASE_DIR"

# write_config ROUTES EXTRA FILE: weir.toml.template with ROUTES routes, plus EXTRA more path
# prefixes (/reload-1/ ... /reload-EXTRA/, so each reload's file differs); the catch-all last.
# Prints the request path that a path-prefix route of the any-host group matches (with 1 route,
# the catch-all).
write_config() {
	sed -e "s/@LISTEN_PORT@/$PROXY_PORT/g" -e "s/@ADMIN_PORT@/$ADMIN_PORT/g" \
		-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" "$BENCH_DIR/weir.toml.template" >"$WORK_DIR/base.toml"
	python3 - "$1" "$2" "$WORK_DIR/base.toml" "$3.tmp" <<'PYEOF'
import sys
routes, extra, base, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
text = open(base).read()
head, sep, _ = text.rpartition("[[routes]]")
assert sep, "weir.toml.template ends with its [[routes]]"
lines, path = [head], None
def route(host, prefix):
    lines.append(f'[[routes]]\nhost = "{host}"\npath_prefix = "{prefix}"\nupstream = "origin"\n\n')
for i in range(routes - 1):
    kind = i % 5
    if kind in (0, 1):
        route(f"svc{i}.example.com", f"/api/v{i}")
    elif kind == 2:
        route(f"*.t{i}.example.com", "/")
    elif i % 4 == 0:
        route("*", f"/p{i}/v2/")
    else:
        route("*", f"/p{i}/")
        if i <= routes * 0.7:
            path = f"/p{i}/x"
for n in range(1, extra + 1):
    route("*", f"/reload-{n}/")
lines.append('[[routes]]\nupstream = "origin"\n')
open(out, "w").write("".join(lines))
print(path or "/p7003/x")
PYEOF
	mv "$3.tmp" "$3"
}

# start_gateway CONFIG NAME: Weir on PROXY_PORT, pinned to PROXY_CPU, its log in LOG_DIR/NAME.log;
# sets STARTED_PID once it proxies.
start_gateway() {
	for _ in $(seq 1 50); do port_in_use "$PROXY_PORT" || break; sleep 0.1; done
	start_bg "$LOG_DIR/$2.log" taskset -c "$PROXY_CPU" "$GATEWAY" --config "$1" --threads 1
	wait_ready "$STARTED_PID" "$PROXY_PORT" || die "weir did not start proxying with $1 (log: $LOG_DIR/$2.log)"
}

# load ARGS...: one weir-loadtest run of the benchmark request, pinned to the load core.
load() {
	taskset -c "$LOAD_CPU" "$LOADTEST" run --quiet -c "$CONNECTIONS" -H 'Host: example.org' "$@" \
		"http://127.0.0.1:$PROXY_PORT$REQUEST_PATH"
}

# field FILE EXPR: a figure from a JSON report (EXPR in Python over `r`).
field() {
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# config_version: the version /status reports.
config_version() {
	http_get "$ADMIN_PORT" /status | python3 -c '
import json, sys
text = sys.stdin.read()
print(json.loads(text[text.index("{"):])["config_version"])'
}

log "origin on 127.0.0.1:$ORIGIN_PORT (core $LOAD_CPU)"
start_bg "$LOG_DIR/origin.log" taskset -c "$LOAD_CPU" "$LOADTEST" origin --listen "127.0.0.1:$ORIGIN_PORT" --no-echo
ORIGIN_PID=$STARTED_PID
for _ in $(seq 1 50); do port_in_use "$ORIGIN_PORT" && break; sleep 0.1; done
is_alive "$ORIGIN_PID" || die "the origin did not start (log: $LOG_DIR/origin.log)"

write_config 1 0 "$WORK_DIR/small.toml" >/dev/null
REQUEST_PATH=$(write_config "$ROUTES" 0 "$WORK_DIR/large.toml")
log "request: GET $REQUEST_PATH, Host: example.org"

# ---------------------------------------------------------------- 1. throughput

RESULTS=$WORK_DIR/throughput
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
	for size in small large; do
		start_gateway "$WORK_DIR/$size.toml" "$size"
		pid=$STARTED_PID
		load -d "${WARMUP}s" >/dev/null
		before=$(cpu_ticks "$pid")
		report=$LOG_DIR/$size-$round.json
		load -d "${DURATION}s" --json "$report" >"$LOG_DIR/$size-$round.txt"
		after=$(cpu_ticks "$pid")
		stop_pid "$pid"
		rps=$(field "$report" 'round(r["summary"]["throughput"])')
		completed=$(field "$report" 'r["summary"]["completed"]')
		errors=$(field "$report" 'r["summary"]["error_count"]')
		cpu_us=$(python3 -c "print(round(($after - $before) / $CLK_TCK * 1e6 / max($completed, 1), 2))")
		log "round $round, $size config: $rps requests/s, $cpu_us µs CPU per request, $errors errors"
		printf '%s %s %s %s %s\n' "$size" "$round" "$rps" "$cpu_us" "$errors" >>"$RESULTS"
	done
done

# ---------------------------------------------------------------- 2. reload under load

SMALL_MAX=$(python3 -c '
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(round(statistics.median(float(r[2]) for r in rows if r[0] == "small")))' "$RESULTS")
RATE=$((SMALL_MAX * RELOAD_PCT / 100))
RELOADS_FILE=$WORK_DIR/reloads
: >"$RELOADS_FILE"

for run in control reload; do
	write_config "$ROUTES" 0 "$WORK_DIR/live.toml" >/dev/null
	start_gateway "$WORK_DIR/live.toml" "$run"
	pid=$STARTED_PID
	load -d "${WARMUP}s" --rate "$RATE" >/dev/null
	log "$run: weir-loadtest run --rate $RATE -d ${RELOAD_DURATION}s ($RELOAD_PCT% of the 1-route maximum)"
	load -d "${RELOAD_DURATION}s" --rate "$RATE" --json "$LOG_DIR/open-$run.json" >"$LOG_DIR/open-$run.txt" &
	loader=$!
	if [[ $run == reload ]]; then
		every=$((RELOAD_DURATION / (RELOADS + 1)))
		# The load starts once its connections are open: give it a moment, then reload at
		# every, 2 × every, ... seconds into the run.
		sleep 0.5
		for n in $(seq 1 "$RELOADS"); do
			sleep "$every"
			version=$(config_version)
			write_config "$ROUTES" "$n" "$WORK_DIR/next.toml" >/dev/null
			mv "$WORK_DIR/next.toml" "$WORK_DIR/live.toml"
			sent_ms=$(date +%s%3N)
			kill -HUP "$pid"
			seen_ms=''
			for _ in $(seq 1 300); do
				if (($(config_version) > version)); then
					seen_ms=$(date +%s%3N)
					break
				fi
				sleep 0.01
			done
			[[ -n $seen_ms ]] || die "reload $n: /status still shows version $version 3 s after SIGHUP (log: $LOG_DIR/$run.log)"
			log "reload $n: new version visible on /status after $((seen_ms - sent_ms)) ms"
			printf '%s %s %s\n' "$n" "$sent_ms" "$((seen_ms - sent_ms))" >>"$RELOADS_FILE"
		done
	fi
	wait "$loader" || die "the load generator failed during the $run run (see $LOG_DIR/open-$run.txt)"
	stop_pid "$pid"
done

# ---------------------------------------------------------------- figures

python3 - "$RESULTS" "$RELOADS_FILE" "$LOG_DIR" "$OUT_DIR/scale-bench.json" "$ROUTES" "$RATE" <<'PYEOF'
import json, re, statistics, sys
results, reloads_file, log_dir, out, routes, rate = sys.argv[1:7]
rows = [l.split() for l in open(results) if l.strip()]
def med(size, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == size)
small_rps, large_rps = med("small", 2), med("large", 2)
small_cpu, large_cpu = med("small", 3), med("large", 3)
summary = {"routes": int(routes), "throughput": {
    "rounds": [dict(zip(["config", "round", "rps", "cpu_us_per_request", "errors"], r)) for r in rows],
    "median_rps": {"1": small_rps, routes: large_rps}, "rps_ratio": large_rps / small_rps,
    "median_cpu_us": {"1": small_cpu, routes: large_cpu}, "cpu_ratio": large_cpu / small_cpu}}
print(f"throughput (medians of {len(rows) // 2} rounds): 1 route {small_rps:.0f} req/s "
      f"{small_cpu:.1f} µs CPU/req; {routes} routes {large_rps:.0f} req/s {large_cpu:.1f} µs CPU/req; "
      f"req/s ratio {large_rps / small_rps:.3f}, CPU ratio {large_cpu / small_cpu:.3f}")

applied = []
for line in open(f"{log_dir}/reload.log"):
    if "config applied" in line:
        m = re.search(r'"apply_ms":([0-9.]+)', line)
        if m:
            applied.append(float(m.group(1)))
reloads = [l.split() for l in open(reloads_file) if l.strip()]
def report(run):
    return json.load(open(f"{log_dir}/open-{run}.json"))
def pct(r, p):
    return next(x["ms"] for x in r["latency"]["corrected"]["percentiles"] if x["percentile"] == p)
control, loaded = report("control"), report("reload")
start_ms = loaded["started_at_unix_ms"]
# A request delayed by a reload may end in the next second: both count as the reload's.
reload_seconds = {int((int(sent) - start_ms) // 1000) + d for _, sent, _ in reloads for d in (0, 1)}
def seconds(r, chosen):
    return [t for t in r["timeline"] if (t["t"] in chosen) and t["completed"]]
during = seconds(loaded, reload_seconds)
others = seconds(loaded, {t["t"] for t in loaded["timeline"]} - reload_seconds)
summary["reload"] = {
    "rate": float(rate), "apply_ms": applied, "visible_after_ms": [int(r[2]) for r in reloads],
    "control": {"p50_ms": pct(control, 50.0), "p99_ms": pct(control, 99.0), "p99_9_ms": pct(control, 99.9),
                "max_ms": control["latency"]["corrected"]["max_ms"], "errors": control["summary"]["error_count"]},
    "with_reloads": {"p50_ms": pct(loaded, 50.0), "p99_ms": pct(loaded, 99.0), "p99_9_ms": pct(loaded, 99.9),
                     "max_ms": loaded["latency"]["corrected"]["max_ms"], "errors": loaded["summary"]["error_count"]},
    "seconds_with_a_reload": [{"t": t["t"], "p99_ms": t["p99_ms"], "max_ms": t["max_ms"]} for t in during],
    "median_p99_ms_other_seconds": statistics.median(t["p99_ms"] for t in others) if others else None,
}
rl = summary["reload"]
print(f"reload of {routes} routes at {float(rate):.0f} req/s: apply {', '.join(f'{a:.0f}' for a in applied)} ms; "
      f"visible on /status after {', '.join(str(v) for v in rl['visible_after_ms'])} ms")
for name in ("control", "with_reloads"):
    x = rl[name]
    print(f"  {name:<13} p50 {x['p50_ms']:.2f} ms  p99 {x['p99_ms']:.2f} ms  p99.9 {x['p99_9_ms']:.2f} ms  "
          f"max {x['max_ms']:.2f} ms  errors {x['errors']}")
print(f"  seconds with a reload: " + ", ".join(
    f"t={s['t']} p99 {s['p99_ms']:.2f} ms max {s['max_ms']:.2f} ms" for s in rl["seconds_with_a_reload"])
    + f"; median p99 of the other seconds {rl['median_p99_ms_other_seconds']:.2f} ms")
json.dump(summary, open(out, "w"), indent=2)
print(f"JSON: {out}")
PYEOF
