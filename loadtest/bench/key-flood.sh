#!/usr/bin/env bash
# key-flood.sh: send Weir a flood of requests that each carry a new API key, against a policy
# keyed on that header (`rate = 10`, `max_keys = 100000`), and measure what docs/config.md says
# of max_keys: the key table stays within it, and a client that already has its bucket keeps it
# (a regular client here, which must get 200 throughout: the script exits 1 if it was ever
# refused). Also records the gateway's memory before, at its peak and after the keys are
# forgotten. See loadtest/README.md ("Rate limiting"). Loopback only; bounded in time.
#
# Environment:
#   FLOOD_REQUESTS       responses to wait for, each to a request with a new key (default 1000000)
#   FLOOD_MAX_KEYS       the policy's max_keys (default 100000)
#   FLOOD_CONNECTIONS    wrk connections (default 50)
#   FLOOD_MAX_SECONDS    the longest the flood may last, s (default 300); it stops then even short
#                        of FLOOD_REQUESTS
#   FLOOD_WARMUP         seconds of wrk on the unlimited route /warm-up before the first
#                        readings (default 3)
#   FLOOD_SETTLE         seconds to wait after the flood before the "after" readings (default 15:
#                        keys are forgotten 10 s after their bucket is full again)
#   FLOOD_OUT            JSON output (default <repo>/target/bench/key-flood.json)
#   BENCH_SKIP_BUILD     1 = use the binaries already built
#   BENCH_BUILD_TIMEOUT  seconds allowed for cargo build (default 3600)
#   BENCH_PROXY_CPU      core for the gateway (default 0)
#   BENCH_LOAD_CPU       core for wrk and the origin (default 1)
#   CARGO_TARGET_DIR     where cargo puts binaries (default <repo>/target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$ROOT/loadtest/bench
RELEASE_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release

REQUESTS=${FLOOD_REQUESTS:-1000000}
MAX_KEYS=${FLOOD_MAX_KEYS:-100000}
CONNECTIONS=${FLOOD_CONNECTIONS:-50}
MAX_SECONDS=${FLOOD_MAX_SECONDS:-300}
SETTLE=${FLOOD_SETTLE:-15}
WARMUP=${FLOOD_WARMUP:-3}
OUT_JSON=${FLOOD_OUT:-$ROOT/target/bench/key-flood.json}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
BUILD_TIMEOUT=${BENCH_BUILD_TIMEOUT:-3600}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}

# Not proxy-bench.sh's ports, so that the two can run one after the other without waiting.
ORIGIN_PORT=18011
WEIR_PORT=18090
WEIR_ADMIN_PORT=18911
POLICY=per-api-key
# The regular client's key and the pause between its requests (about 4 a second, under the
# policy's 10: it must never be refused).
REGULAR_KEY=regular-client
REGULAR_PAUSE=0.2

LOG_DIR=$(dirname "$OUT_JSON")/logs
WORK_DIR=''
STARTED_PIDS=()

# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

for value in "$REQUESTS" "$MAX_KEYS" "$CONNECTIONS" "$MAX_SECONDS" "$SETTLE" "$WARMUP" "$BUILD_TIMEOUT" "$PROXY_CPU" "$LOAD_CPU"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value' (see the environment variables at the top of $0)"
done
((REQUESTS > 0 && MAX_KEYS > 0 && CONNECTIONS > 0 && MAX_SECONDS > 0)) ||
	die "FLOOD_REQUESTS, FLOOD_MAX_KEYS, FLOOD_CONNECTIONS and FLOOD_MAX_SECONDS must be at least 1"
for tool in wrk curl taskset; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install wrk curl util-linux)"
done

# /proc files are read with `read`, not $(<file): under set -e, bash 5.2 exits
# the whole script when $(<file) fails, even on the left of ||.

# is_alive, stop_pid, start_bg, cleanup, port_in_use, metric_sum, start_bench_redis

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-key-flood.XXXXXX")

# wait_ready PID PORT PATH: waits up to 20 s until http://127.0.0.1:PORT/PATH answers 200;
# fails early if PID exits.
wait_ready() {
	local pid=$1 port=$2 path=$3
	for _ in {1..200}; do
		is_alive "$pid" || return 1
		[[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/$path") == 200 ]] && return 0
		sleep 0.1
	done
	return 1
}

# The gateway's admin /metrics, saved to FILE.
scrape() {
	curl -fs -m 3 -o "$1" "http://127.0.0.1:$WEIR_ADMIN_PORT/metrics"
}

# Prints "admitted limited keys": the policy's decisions so far and its key gauge.
policy_readings() {
	local file=$WORK_DIR/metrics
	scrape "$file" || return 1
	printf '%s %s %s\n' \
		"$(metric_sum "$file" weir_ratelimit_decisions_total "decision=\"admitted\"")" \
		"$(metric_sum "$file" weir_ratelimit_decisions_total "decision=\"limited\"")" \
		"$(metric_sum "$file" weir_ratelimit_keys "policy=\"$POLICY\"")"
}

# status_kb PID FIELD: a /proc/PID/status field in kB (VmRSS: resident now; VmHWM: the peak).
status_kb() {
	local key value _
	while read -r key value _; do
		if [[ $key == "$2:" ]]; then
			printf '%s\n' "$value"
			return 0
		fi
	done <"/proc/$1/status"
	return 1
}

mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# The regular client: GET / with one fixed key every REGULAR_PAUSE s, one connection each
# (curl), until WORK_DIR/stop-regular exists. One line per request: "status seconds".
regular_client() {
	local out=$1 line
	while [[ ! -e $WORK_DIR/stop-regular ]]; do
		line=$(curl -s -o /dev/null -m 2 -w '%{http_code} %{time_total}' \
			-H "x-api-key: $REGULAR_KEY" "http://127.0.0.1:$WEIR_PORT/") || true
		printf '%s\n' "${line:-000 2}" >>"$out"
		sleep "$REGULAR_PAUSE"
	done
}

# ---------------------------------------------------------------- build and start

mkdir -p "$LOG_DIR" "$(dirname "$OUT_JSON")"
if ((SKIP_BUILD)); then
	log "BENCH_SKIP_BUILD=1: using binaries in $RELEASE_DIR as they are"
else
	log "cargo build --release -p weir-loadtest -p weir-gateway --bins"
	(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p weir-loadtest -p weir-gateway --bins) ||
		die "cargo build failed"
fi
for bin in "$RELEASE_DIR/weir-gateway" "$RELEASE_DIR/weir-loadtest"; do
	[[ -x $bin ]] || die "$bin is missing (run without BENCH_SKIP_BUILD=1)"
done
for port in "$ORIGIN_PORT" "$WEIR_PORT" "$WEIR_ADMIN_PORT"; do
	if port_in_use "$port"; then
		die "port $port is already in use; stop whatever listens there (key-flood uses $ORIGIN_PORT, $WEIR_PORT, $WEIR_ADMIN_PORT)"
	fi
done
if (($(nproc) < 2)); then
	log "only $(nproc) CPU: gateway, origin and wrk all share core 0"
	PROXY_CPU=0 LOAD_CPU=0
fi

start_bg "$LOG_DIR/flood-origin.log" taskset -c "$LOAD_CPU" "$RELEASE_DIR/weir-loadtest" origin \
	--listen "127.0.0.1:$ORIGIN_PORT" --region local --name flood --threads 1 --no-echo
ORIGIN_PID=$STARTED_PID
wait_ready "$ORIGIN_PID" "$ORIGIN_PORT" '' || die "origin did not start (log: $LOG_DIR/flood-origin.log)"

sed -e "s/@LISTEN_PORT@/$WEIR_PORT/g" -e "s/@ADMIN_PORT@/$WEIR_ADMIN_PORT/g" \
	-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" -e "s/@MAX_KEYS@/$MAX_KEYS/g" \
	"$BENCH_DIR/key-flood.toml.template" >"$LOG_DIR/key-flood.toml"
start_bg "$LOG_DIR/key-flood.log" taskset -c "$PROXY_CPU" "$RELEASE_DIR/weir-gateway" \
	--config "$LOG_DIR/key-flood.toml" --threads 1
WEIR_PID=$STARTED_PID
# Through the unlimited route: the policy's counts and key table start empty.
if ! wait_ready "$WEIR_PID" "$WEIR_PORT" warm-up; then
	tail -n 5 "$LOG_DIR/key-flood.log" | sed 's/^/    /' >&2 || true
	die "weir-gateway did not start (log: $LOG_DIR/key-flood.log, config: $LOG_DIR/key-flood.toml)"
fi
log "gateway pid $WEIR_PID on 127.0.0.1:$WEIR_PORT (core $PROXY_CPU); origin and wrk on core $LOAD_CPU"

# ---------------------------------------------------------------- flood

if ((WARMUP > 0)); then
	log "warm-up: ${WARMUP}s of wrk -c$CONNECTIONS on /warm-up (no limit)"
	# In the background and waited for, so that a signal to the script stops it at once.
	taskset -c "$LOAD_CPU" timeout $((WARMUP + 30)) wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" \
		"http://127.0.0.1:$WEIR_PORT/warm-up" >"$LOG_DIR/key-flood.warmup.wrk" 2>&1 &
	STARTED_PIDS+=("$!")
	wait "$!" || die "warm-up wrk failed (output: $LOG_DIR/key-flood.warmup.wrk)"
fi
RSS_BEFORE=$(status_kb "$WEIR_PID" VmRSS)
read -r ADMITTED_0 LIMITED_0 KEYS_BEFORE < <(policy_readings) || die "cannot read http://127.0.0.1:$WEIR_ADMIN_PORT/metrics"
log "before: RSS $(mib "$RSS_BEFORE") MiB, $KEYS_BEFORE keys"

REGULAR_OUT=$WORK_DIR/regular
: >"$REGULAR_OUT"
regular_client "$REGULAR_OUT" &
STARTED_PIDS+=("$!")
REGULAR_PID=$!
# Its bucket exists before the flood fills the table: a key that has one keeps it.
sleep 1

log "flood: $REQUESTS requests with distinct x-api-key, wrk -t1 -c$CONNECTIONS, at most ${MAX_SECONDS}s"
SAMPLES=$LOG_DIR/key-flood.samples
printf 'second keys rss_kib admitted limited\n' >"$SAMPLES"
# Appends a line to SAMPLES: seconds since the flood began, the key gauge, the gateway's RSS and
# the decisions since the first reading; sets SAMPLED_KEYS.
sample() {
	local admitted limited rss
	read -r admitted limited SAMPLED_KEYS < <(policy_readings) || return 1
	rss=$(status_kb "$WEIR_PID" VmRSS) || return 1
	printf '%s %s %s %s %s\n' $((SECONDS - FLOOD_START)) "$SAMPLED_KEYS" "$rss" \
		$((admitted - ADMITTED_0)) $((limited - LIMITED_0)) >>"$SAMPLES"
}
taskset -c "$LOAD_CPU" timeout $((MAX_SECONDS + 30)) wrk -t1 -c"$CONNECTIONS" -d"${MAX_SECONDS}s" \
	-s "$BENCH_DIR/key-flood.lua" "http://127.0.0.1:$WEIR_PORT/" -- "$REQUESTS" "$WORK_DIR/flood-done" \
	>"$LOG_DIR/key-flood.wrk" 2>&1 &
WRK_PID=$!
STARTED_PIDS+=("$WRK_PID")
FLOOD_START=$SECONDS
KEYS_PEAK=$KEYS_BEFORE
while is_alive "$WRK_PID"; do
	# Ten looks a second for the script's marker: wrk then gets SIGINT (relayed by timeout), which
	# makes it print its summary at once, so its req/s cover the flood and not the wait.
	for _ in {1..10}; do
		if [[ -e $WORK_DIR/flood-done ]] && is_alive "$WRK_PID"; then
			kill -INT "$WRK_PID" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	is_alive "$WEIR_PID" || die "weir-gateway exited during the flood (log: $LOG_DIR/key-flood.log)"
	sample || continue
	if ((SAMPLED_KEYS > KEYS_PEAK)); then KEYS_PEAK=$SAMPLED_KEYS; fi
done
WRK_STATUS=0
wait "$WRK_PID" || WRK_STATUS=$?
touch "$WORK_DIR/stop-regular"
stop_pid "$REGULAR_PID"
((WRK_STATUS == 0)) || die "wrk failed with status $WRK_STATUS (output: $LOG_DIR/key-flood.wrk)"

read -r _ _ SENT _ WRK_OK _ WRK_LIMITED _ WRK_OTHER < <(grep '^flood: ' "$LOG_DIR/key-flood.wrk") ||
	die "no 'flood:' line in $LOG_DIR/key-flood.wrk"
if ((WRK_OK + WRK_LIMITED + WRK_OTHER < REQUESTS)); then
	log "WARNING: the flood stopped at FLOOD_MAX_SECONDS=${MAX_SECONDS}s, after $((WRK_OK + WRK_LIMITED + WRK_OTHER)) of $REQUESTS responses"
fi
WRK_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$LOG_DIR/key-flood.wrk")
# wrk's own run time ("N requests in 2.59s" or "1.50m"), in seconds.
FLOOD_SECONDS=$(awk '/ requests in / {
	t = $4; sub(/,$/, "", t); n = t + 0
	if (t ~ /ms$/) n /= 1000; else if (t ~ /m$/) n *= 60; else if (t ~ /h$/) n *= 3600
	printf "%.2f", n }' "$LOG_DIR/key-flood.wrk")
read -r ADMITTED_1 LIMITED_1 KEYS_END < <(policy_readings) || die "cannot read the admin /metrics after the flood"
RSS_END=$(status_kb "$WEIR_PID" VmRSS)

# ---------------------------------------------------------------- after

log "flood over after ${FLOOD_SECONDS}s; waiting ${SETTLE}s for the gateway to forget the keys"
SETTLE_START=$SECONDS
while ((SECONDS - SETTLE_START < SETTLE)); do
	sleep 1
	is_alive "$WEIR_PID" || die "weir-gateway exited after the flood (log: $LOG_DIR/key-flood.log)"
	sample || true
done
read -r _ _ KEYS_AFTER < <(policy_readings) || die "cannot read the admin /metrics after settling"
RSS_AFTER=$(status_kb "$WEIR_PID" VmRSS)
RSS_PEAK=$(status_kb "$WEIR_PID" VmHWM)

REGULAR_TOTAL=0 REGULAR_OK=0 REGULAR_LIMITED=0 REGULAR_OTHER=0 REGULAR_MAX_MS=0
read -r REGULAR_TOTAL REGULAR_OK REGULAR_LIMITED REGULAR_OTHER REGULAR_MAX_MS < <(awk '
	{ n++; if ($1 == 200) ok++; else if ($1 == 429) lim++; else other++; if ($2 > max) max = $2 }
	END { printf "%d %d %d %d %.1f\n", n, ok, lim, other, max * 1000 }' "$REGULAR_OUT")
REFUSED=$((REGULAR_TOTAL - REGULAR_OK))
((REGULAR_TOTAL > 0)) || die "the regular client sent no request"
# Decisions made for the flood: the policy's counts over the run minus the regular client's
# (/warm-up, where the readiness probes and the warm-up went, has no limit).
FLOOD_ADMITTED=$((ADMITTED_1 - ADMITTED_0 - REGULAR_OK))
FLOOD_LIMITED=$((LIMITED_1 - LIMITED_0 - REGULAR_LIMITED))

printf '\nkey flood: %s requests with distinct x-api-key in %ss (%s req/s), policy rate=10/s, max_keys=%s\n' \
	"$SENT" "$FLOOD_SECONDS" "$WRK_RPS" "$MAX_KEYS"
printf '  decisions (metrics)   admitted %s, limited %s (wrk saw 200: %s, 429: %s, other: %s)\n' \
	"$FLOOD_ADMITTED" "$FLOOD_LIMITED" "$WRK_OK" "$WRK_LIMITED" "$WRK_OTHER"
printf '  weir_ratelimit_keys   before %s, peak during %s, end of flood %s, %ss after %s\n' \
	"$KEYS_BEFORE" "$KEYS_PEAK" "$KEYS_END" "$SETTLE" "$KEYS_AFTER"
printf '  RSS MiB               before (after warm-up) %s, peak %s (VmHWM), end of flood %s, %ss after %s\n' \
	"$(mib "$RSS_BEFORE")" "$(mib "$RSS_PEAK")" "$(mib "$RSS_END")" "$SETTLE" "$(mib "$RSS_AFTER")"
if ((KEYS_PEAK > 0)); then
	printf '  peak RSS over before  %s bytes per tracked key (%s keys)\n' \
		$(((RSS_PEAK - RSS_BEFORE) * 1024 / KEYS_PEAK)) "$KEYS_PEAK"
fi
printf '  regular client        %s requests, %s x 200, %s x 429, %s other; slowest %s ms: %s\n' \
	"$REGULAR_TOTAL" "$REGULAR_OK" "$REGULAR_LIMITED" "$REGULAR_OTHER" "$REGULAR_MAX_MS" \
	"$( ((REFUSED == 0)) && echo 'never refused' || echo 'REFUSED')"
printf '  (per-second samples: %s)\n' "$SAMPLES"

printf '{"date":"%s","requests_sent":%s,"flood_seconds":%s,"wrk_requests_per_sec":%s,"connections":%s,"max_keys":%s,"admitted":%s,"limited":%s,"wrk_ok":%s,"wrk_limited":%s,"wrk_other":%s,"keys_before":%s,"keys_peak":%s,"keys_end":%s,"keys_after":%s,"settle_s":%s,"rss_kib_before":%s,"rss_kib_peak":%s,"rss_kib_end":%s,"rss_kib_after":%s,"regular_requests":%s,"regular_ok":%s,"regular_limited":%s,"regular_other":%s,"regular_max_ms":%s}\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SENT" "$FLOOD_SECONDS" "${WRK_RPS:-null}" "$CONNECTIONS" "$MAX_KEYS" \
	"$FLOOD_ADMITTED" "$FLOOD_LIMITED" "$WRK_OK" "$WRK_LIMITED" "$WRK_OTHER" \
	"$KEYS_BEFORE" "$KEYS_PEAK" "$KEYS_END" "$KEYS_AFTER" "$SETTLE" \
	"$RSS_BEFORE" "$RSS_PEAK" "$RSS_END" "$RSS_AFTER" \
	"$REGULAR_TOTAL" "$REGULAR_OK" "$REGULAR_LIMITED" "$REGULAR_OTHER" "$REGULAR_MAX_MS" >"$OUT_JSON"
log "results written to $OUT_JSON (wrk output, gateway log and config in $LOG_DIR)"
((REFUSED == 0)) || exit 1
