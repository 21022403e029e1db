#!/usr/bin/env bash
# generator-capacity.sh: can weir-loadtest saturate what it measures? Against a simulated origin
# (no proxy), on this machine:
#   1. closed model: wrk and `weir-loadtest run` with the same connections and threads, alternated
#      over GC_ROUNDS rounds; the median requests/s of each and their ratio (target ≥ 0.9);
#   2. open model: `weir-loadtest run --rate R` for each R in GC_RATES (requests/s the origin
#      keeps up with): the rate achieved (sent/s, and responses/s) against R (target within 1%).
# The origin runs on core GC_ORIGIN_CPU (default 0), the generators on GC_LOAD_CPU (default 1).
# Writes target/bench/generator-capacity.json; the reports are in target/bench/logs/capacity/.
#
# Knobs: GC_DURATION (s, default 10), GC_CONNECTIONS (50), GC_THREADS (1), GC_ROUNDS (3),
# GC_RATES ("1000 10000 30000"), GC_SKIP_BUILD=1, CARGO_TARGET_DIR. About
# (2 × rounds + rates) × duration seconds.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

DURATION=${GC_DURATION:-10}
CONNECTIONS=${GC_CONNECTIONS:-50}
THREADS=${GC_THREADS:-1}
ROUNDS=${GC_ROUNDS:-3}
RATES=${GC_RATES:-1000 10000 30000}
ORIGIN_CPU=${GC_ORIGIN_CPU:-0}
LOAD_CPU=${GC_LOAD_CPU:-1}
RELEASE_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
OUT_DIR=$ROOT/target/bench
LOG_DIR=$OUT_DIR/logs/capacity
PORT=18201


STARTED_PIDS=()
trap cleanup EXIT
mkdir -p "$LOG_DIR"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if ((${#missing[@]})); then
	sudo=()
	if ((EUID != 0)); then sudo=(sudo); fi
	log "installing ${missing[*]} with apt-get"
	"${sudo[@]}" apt-get update -q >/dev/null
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
if [[ ${GC_SKIP_BUILD:-0} != 1 ]]; then
	(cd "$ROOT" && cargo build --release -p weir-loadtest --bins) || die "build failed"
fi
LOADTEST=$RELEASE_DIR/weir-loadtest
[[ -x $LOADTEST ]] || die "$LOADTEST missing"

start_bg "$LOG_DIR/origin.log" taskset -c "$ORIGIN_CPU" "$LOADTEST" origin --listen "127.0.0.1:$PORT" --no-echo
for _ in $(seq 1 50); do port_in_use "$PORT" && break; sleep 0.1; done
URL=http://127.0.0.1:$PORT/
# Warm-up: both tools once, briefly.
taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$URL" >/dev/null

wrk_rps=() ours_rps=()
for round in $(seq 1 "$ROUNDS"); do
	for tool in wrk weir-loadtest; do
		if [[ $tool == wrk ]]; then
			taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$URL" >"$LOG_DIR/wrk-$round.txt"
			wrk_rps+=("$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$LOG_DIR/wrk-$round.txt")")
			log "round $round: wrk ${wrk_rps[-1]} req/s"
		else
			taskset -c "$LOAD_CPU" "$LOADTEST" run --quiet -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" "$URL" \
				--json "$LOG_DIR/closed-$round.json" >/dev/null
			ours_rps+=("$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["summary"]["throughput"]))' "$LOG_DIR/closed-$round.json")")
			log "round $round: weir-loadtest ${ours_rps[-1]} req/s"
		fi
	done
done

for rate in $RATES; do
	taskset -c "$LOAD_CPU" "$LOADTEST" run --quiet -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --rate "$rate" "$URL" \
		--json "$LOG_DIR/open-$rate.json" >/dev/null
	log "open model at $rate req/s done"
done

python3 - "$LOG_DIR" "$OUT_DIR/generator-capacity.json" "${wrk_rps[*]}" "${ours_rps[*]}" "$RATES" "$CONNECTIONS" "$THREADS" "$DURATION" <<'PYEOF'
import json, statistics, sys
log_dir, out, wrk, ours, rates, connections, threads, duration = sys.argv[1:9]
wrk = [float(x) for x in wrk.split()]
ours = [float(x) for x in ours.split()]
result = {"connections": int(connections), "threads": int(threads), "duration_s": float(duration),
          "closed": {"wrk_rps": wrk, "weir_loadtest_rps": ours,
                     "wrk_median": statistics.median(wrk), "weir_loadtest_median": statistics.median(ours)},
          "open": []}
result["closed"]["ratio"] = result["closed"]["weir_loadtest_median"] / result["closed"]["wrk_median"]
print(f"\nclosed model, {connections} connections, {threads} thread(s), {duration} s, {len(wrk)} rounds")
print(f"  wrk            median {result['closed']['wrk_median']:>9.0f} req/s   runs {' '.join(f'{x:.0f}' for x in wrk)}")
print(f"  weir-loadtest  median {result['closed']['weir_loadtest_median']:>9.0f} req/s   runs {' '.join(f'{x:.0f}' for x in ours)}")
print(f"  ratio {result['closed']['ratio']:.3f} (target ≥ 0.9)")
print("\nopen model: achieved vs asked (target within 1%)")
for rate in rates.split():
    r = json.load(open(f"{log_dir}/open-{rate}.json"))["summary"]
    entry = {"rate": float(rate), "sent_rate": r["sent_rate"], "throughput": r["throughput"],
             "sent_error": r["sent_rate"] / float(rate) - 1, "throughput_error": r["throughput"] / float(rate) - 1,
             "errors": r["error_rate"]}
    result["open"].append(entry)
    print(f"  {float(rate):>8.0f}/s   sent {r['sent_rate']:>10.1f}/s ({entry['sent_error'] * 100:+.2f}%)   "
          f"responses {r['throughput']:>10.1f}/s ({entry['throughput_error'] * 100:+.2f}%)")
json.dump(result, open(out, "w"), indent=2)
print(f"\nJSON: {out}")
PYEOF
