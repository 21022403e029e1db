#!/usr/bin/env bash
# proxy-bench.sh: compare Weir's proxy throughput, latency and CPU cost per
# request with the origin served directly, nginx, a bare Pingora proxy and
# (if installed) HAProxy, and measure what a rate limit that never triggers
# costs Weir (local, without its response headers, and global in Redis), and
# what every resilience policy configured but never triggered costs
# (weir-resilience; weir-before runs a build from before the policies existed).
# See loadtest/README.md for the method.
#
# Environment:
#   BENCH_DURATION      measured run, seconds (default 10)
#   BENCH_WARMUP        warm-up run, seconds (default 2)
#   BENCH_CONNECTIONS   wrk connections (default 50)
#   BENCH_TARGETS       space-separated subset of: origin weir weir-limit
#                       weir-limit-quiet weir-global weir-resilience
#                       weir-before nginx bare haproxy
#                       (default: all of them; weir-before only when
#                       WEIR_BEFORE_BIN is set); measured in the order given
#   WEIR_BEFORE_BIN     a weir-gateway binary built from an older commit, run
#                       as target weir-before with the plain weir config
#   BENCH_SKIP_BUILD    1 = use the binaries already built
#   BENCH_BUILD_TIMEOUT seconds allowed for cargo build (default 3600)
#   BENCH_OUT           JSON output (default <repo>/target/bench/proxy-bench.json)
#   BENCH_PROXY_CPU     core for the proxy under test (default 0)
#   BENCH_LOAD_CPU      core for wrk and the origin (default 1)
#   CARGO_TARGET_DIR    where cargo puts binaries (default <repo>/target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$ROOT/loadtest/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE_DIR=$TARGET_DIR/release

DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
WARMUP=${BENCH_WARMUP:-2}
WARMUP=${WARMUP%s}
CONNECTIONS=${BENCH_CONNECTIONS:-50}
# In the order they run and are reported.
ALL_TARGETS='origin weir weir-limit weir-limit-quiet weir-global weir-resilience nginx bare haproxy'
if [[ -n ${WEIR_BEFORE_BIN:-} ]]; then ALL_TARGETS="origin weir-before ${ALL_TARGETS#origin }"; fi
TARGETS=${BENCH_TARGETS:-$ALL_TARGETS}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
BUILD_TIMEOUT=${BENCH_BUILD_TIMEOUT:-3600}
OUT_JSON=${BENCH_OUT:-$ROOT/target/bench/proxy-bench.json}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}

ORIGIN_PORT=18001
WEIR_PORT=18080
WEIR_ADMIN_PORT=18901
NGINX_PORT=18081
BARE_PORT=18082
HAPROXY_PORT=18083

# Seconds a started server gets to answer its first proxied request.
READY_TIMEOUT=20

LOG_DIR=$(dirname "$OUT_JSON")/logs
WORK_DIR=''
CLK_TCK=$(getconf CLK_TCK)

# Every process this script started, stopped on exit.
STARTED_PIDS=()

# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

for value in "$DURATION" "$WARMUP" "$CONNECTIONS" "$PROXY_CPU" "$LOAD_CPU" "$BUILD_TIMEOUT"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value' (see the environment variables at the top of $0)"
done
((DURATION > 0)) || die "BENCH_DURATION must be at least 1"
for target in $TARGETS; do
	[[ " $ALL_TARGETS " == *" $target "* ]] ||
		die "unknown target '$target' in BENCH_TARGETS (known: $ALL_TARGETS)"
done

wants() { [[ " $TARGETS " == *" $1 "* ]]; }
# Any of the targets that run weir-gateway.
wants_weir() { wants weir || wants weir-limit || wants weir-limit-quiet || wants weir-global || wants weir-resilience; }

# /proc files are read with `read`, not $(<file): under set -e, bash 5.2 exits
# the whole script when $(<file) fails, even on the left of ||.

# is_alive, stop_pid, start_bg, cleanup, port_in_use, metric_sum, start_bench_redis, pid_tree,
# cpu_ticks and parse_wrk come from lib.sh.

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-proxy-bench.XXXXXX")

# ---------------------------------------------------------------- tools

if ! command -v wrk >/dev/null 2>&1; then
	SUDO=()
	if ((EUID != 0)); then SUDO=(sudo); fi
	log "wrk not found: installing the Debian package 'wrk' with: ${SUDO[*]} apt-get update && ${SUDO[*]} apt-get install -y wrk"
	"${SUDO[@]}" apt-get update -q
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
	command -v wrk >/dev/null 2>&1 || die "wrk is still missing after apt-get install"
fi
command -v taskset >/dev/null 2>&1 || die "taskset (util-linux) is needed to pin processes to cores"

NPROC=$(nproc)
if ((NPROC < 2)); then
	log "only $NPROC CPU: proxy, origin and wrk all share core 0; numbers will be pessimistic"
	PROXY_CPU=0
	LOAD_CPU=0
fi

# ---------------------------------------------------------------- build

# Per-target reason it cannot run, set by the build or start steps.
declare -A SKIP_REASON=()

build() {
	local -a packages=(-p weir-loadtest) extra=()
	if wants_weir || wants bare; then packages+=(-p weir-gateway); fi
	if wants bare; then extra+=(--example bare_pingora); fi
	if ((SKIP_BUILD)); then
		log "BENCH_SKIP_BUILD=1: using binaries in $RELEASE_DIR as they are"
		return
	fi
	log "cargo build --release ${packages[*]} --bins ${extra[*]}"
	if (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release "${packages[@]}" --bins "${extra[@]}"); then
		return
	fi
	log "combined build failed; building each part on its own"
	(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p weir-loadtest --bins) ||
		die "cannot build weir-loadtest, which provides the origin"
	if wants_weir && ! (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p weir-gateway --bins); then
		local target
		for target in weir weir-limit weir-limit-quiet weir-global weir-resilience; do
			SKIP_REASON[$target]="cargo build -p weir-gateway --bins failed"
		done
	fi
	if wants bare && ! (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p weir-gateway --example bare_pingora); then
		SKIP_REASON[bare]="cargo build -p weir-gateway --example bare_pingora failed"
	fi
}

# ---------------------------------------------------------------- helpers

# ratelimit_decisions FILE: prints "admitted limited store_error", the
# weir_ratelimit_decisions_total so far, from Weir's admin /metrics (kept in FILE).
ratelimit_decisions() {
	local file=$1 decision
	local -a counts=()
	http_get "$WEIR_ADMIN_PORT" /metrics >"$file" || return 1
	grep -q '^HTTP/1.. 200' "$file" || return 1
	for decision in admitted limited store_error; do
		counts+=("$(metric_sum "$file" weir_ratelimit_decisions_total "decision=\"$decision\"")")
	done
	printf '%s\n' "${counts[*]}"
}

# Share (%) of all CPUs busy over 1 s, from /proc/stat: taken while nothing of
# ours runs, to catch a machine that is not quiet (a parallel build skews everything).
busy_percent() {
	local -a a b
	read -ra a </proc/stat
	sleep 1
	read -ra b </proc/stat
	# cpu user nice system idle iowait irq softirq steal
	local busy=$(((b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8])))
	local idle=$(((b[4] + b[5]) - (a[4] + a[5])))
	if ((busy + idle > 0)); then
		printf '%s\n' $((busy * 100 / (busy + idle)))
	else
		printf '0\n'
	fi
}

# In the background and waited for, so that a signal to the script stops it at once.
run_wrk() {
	local port=$1 seconds=$2 out=$3 pid status=0
	taskset -c "$LOAD_CPU" timeout $((seconds + 30)) \
		wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency "http://127.0.0.1:$port/" >"$out" 2>&1 &
	pid=$!
	STARTED_PIDS+=("$pid")
	wait "$pid" || status=$?
	return "$status"
}

# ---------------------------------------------------------------- targets

# Each start_* starts its server pinned to the proxy core (the origin: the load core),
# sets STARTED_PID and PORT, or returns 1 with SKIP_REASON set.

start_origin_target() {
	PORT=$ORIGIN_PORT
	STARTED_PID=$ORIGIN_PID
}

# The private redis-server of weir-global, pinned to the load core: started by
# start_redis, stopped after that target's run (and on exit, like every process
# the script starts).
REDIS_PID=''
REDIS_PORT=''

# Starts it (see start_bench_redis in lib.sh); returns 1 with SKIP_REASON[weir-global] set when
# it cannot.
start_redis() {
	command -v redis-server >/dev/null 2>&1 || {
		SKIP_REASON[weir-global]="redis-server not installed (Debian: apt-get install redis-server)"
		return 1
	}
	if ! start_bench_redis "$LOAD_CPU" "$LOG_DIR/redis.log"; then
		SKIP_REASON[weir-global]="redis-server did not start on any of 20 ports (log: $LOG_DIR/redis.log)"
		return 1
	fi
	log "redis-server: pid $REDIS_PID on 127.0.0.1:$REDIS_PORT (core $LOAD_CPU)"
}

# start_weir TARGET: weir.toml.template, followed for the limit targets by
# TARGET.toml.part (its policy; the template ends with the route, which the
# part's first line continues).
start_weir() {
	local target=$1 bin=$RELEASE_DIR/weir-gateway
	local -a parts=("$BENCH_DIR/weir.toml.template")
	if [[ $target == weir-before ]]; then bin=${WEIR_BEFORE_BIN:-}; fi
	[[ -x $bin ]] || {
		SKIP_REASON[$target]="$bin not built"
		return 1
	}
	if [[ $target != weir && $target != weir-before ]]; then parts+=("$BENCH_DIR/$target.toml.part"); fi
	if [[ $target == weir-global ]]; then start_redis || return 1; fi
	PORT=$WEIR_PORT
	cat "${parts[@]}" | sed -e "s/@LISTEN_PORT@/$WEIR_PORT/g" -e "s/@ADMIN_PORT@/$WEIR_ADMIN_PORT/g" \
		-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" -e "s/@REDIS_PORT@/$REDIS_PORT/g" >"$LOG_DIR/$target.toml"
	start_bg "$LOG_DIR/$target.log" taskset -c "$PROXY_CPU" "$bin" --config "$LOG_DIR/$target.toml" --threads 1
}

# check_limit_headers TARGET PORT: succeeds when the responses through PORT carry
# the RateLimit header exactly when TARGET's config should add it, so the run
# measures what its name says; otherwise sets SKIP_REASON.
check_limit_headers() {
	local target=$1 port=$2 response want has=no
	case $target in
	weir-limit | weir-global) want=yes ;;
	weir | weir-limit-quiet | weir-resilience | weir-before) want=no ;;
	*) return 0 ;;
	esac
	response=$(http_get "$port" /) || response=''
	if grep -qi '^ratelimit:' <<<"$response"; then has=yes; fi
	[[ $has == "$want" ]] && return 0
	if [[ $want == yes ]]; then
		SKIP_REASON[$target]="responses lack the RateLimit header its policy should add (config: $LOG_DIR/$target.toml)"
	else
		SKIP_REASON[$target]="responses carry a RateLimit header; expected none (config: $LOG_DIR/$target.toml)"
	fi
	return 1
}

start_nginx() {
	local bin prefix=$WORK_DIR/nginx
	bin=$(command -v nginx 2>/dev/null || true)
	[[ -n $bin ]] || bin=/usr/sbin/nginx
	[[ -x $bin ]] || {
		SKIP_REASON[nginx]="nginx not installed (Debian: apt-get install nginx-light)"
		return 1
	}
	PORT=$NGINX_PORT
	mkdir -p "$prefix/logs" "$prefix/tmp"
	sed -e "s|@PREFIX@|$prefix|g" -e "s/@LISTEN_PORT@/$NGINX_PORT/g" \
		-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" "$BENCH_DIR/nginx.conf.template" >"$prefix/nginx.conf"
	start_bg "$LOG_DIR/nginx.log" taskset -c "$PROXY_CPU" \
		"$bin" -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf"
}

start_bare() {
	local bin=$RELEASE_DIR/examples/bare_pingora
	[[ -x $bin ]] || {
		SKIP_REASON[bare]="$bin not built"
		return 1
	}
	PORT=$BARE_PORT
	start_bg "$LOG_DIR/bare.log" taskset -c "$PROXY_CPU" \
		"$bin" --listen "127.0.0.1:$BARE_PORT" --upstream "127.0.0.1:$ORIGIN_PORT"
}

start_haproxy() {
	local bin
	bin=$(command -v haproxy 2>/dev/null || true)
	[[ -n $bin ]] || bin=/usr/sbin/haproxy
	[[ -x $bin ]] || {
		SKIP_REASON[haproxy]="haproxy not installed (optional; Debian: apt-get install haproxy)"
		return 1
	}
	PORT=$HAPROXY_PORT
	sed -e "s/@LISTEN_PORT@/$HAPROXY_PORT/g" -e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" \
		"$BENCH_DIR/haproxy.cfg.template" >"$WORK_DIR/haproxy.cfg"
	start_bg "$LOG_DIR/haproxy.log" taskset -c "$PROXY_CPU" "$bin" -db -f "$WORK_DIR/haproxy.cfg"
}

declare -A BUSY=() REQUESTS=() RPS=() P50=() P99=() ERRORS=() CPU_S=() CPU_US=() CPU_PCT=()
# Limit targets: weir_ratelimit_decisions_total over the measured run, whether
# store_error passed 1% of admitted, and redis-server's CPU per request.
declare -A RL_ADMITTED=() RL_LIMITED=() RL_STORE_ERR=() RL_FLAGGED=() REDIS_CPU_US=()

is_limit_target() { [[ $1 == weir-limit || $1 == weir-limit-quiet || $1 == weir-global ]]; }

# Runs one target: start, wait until it proxies, warm up, measure, stop.
bench_target() {
	local target=$1 pid port before after requests rps p50 p99 errors
	local rl_before='' rl_after='' redis_before='' redis_after=''
	local -a pids
	if [[ -n ${SKIP_REASON[$target]:-} ]]; then
		log "$target: skipped: ${SKIP_REASON[$target]}"
		return
	fi
	STARTED_PID='' PORT=''
	case $target in
	origin) start_origin_target ;;
	weir | weir-limit | weir-limit-quiet | weir-global | weir-resilience | weir-before) start_weir "$target" ;;
	nginx) start_nginx ;;
	bare) start_bare ;;
	haproxy) start_haproxy ;;
	esac || {
		log "$target: skipped: ${SKIP_REASON[$target]}"
		return
	}
	pid=$STARTED_PID port=$PORT
	log "$target: pid $pid on 127.0.0.1:$port"
	local ready=0
	wait_ready "$pid" "$port" || ready=$?
	if ((ready != 0)); then
		if ((ready == 1)); then
			SKIP_REASON[$target]="exited at startup (log: $LOG_DIR/$target.log)"
		else
			SKIP_REASON[$target]="no 200 from the origin through 127.0.0.1:$port within ${READY_TIMEOUT}s (log: $LOG_DIR/$target.log)"
		fi
		log "$target: skipped: ${SKIP_REASON[$target]}"
		tail -n 5 "$LOG_DIR/$target.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		[[ $target == origin ]] || stop_pid "$pid"
		return
	fi
	if ! check_limit_headers "$target" "$port"; then
		log "$target: skipped: ${SKIP_REASON[$target]}"
		stop_pid "$pid"
		return
	fi

	BUSY[$target]=$(busy_percent)
	if ((BUSY[$target] > 10)); then
		log "$target: WARNING: the machine is ${BUSY[$target]}% busy before the run; something else is using CPU, numbers will be noisy"
	fi

	if ((WARMUP > 0)); then
		log "$target: warm-up ${WARMUP}s"
		run_wrk "$port" "$WARMUP" "$LOG_DIR/$target.warmup.wrk" || true
	fi

	mapfile -t pids < <(pid_tree "$pid")
	if is_limit_target "$target"; then
		rl_before=$(ratelimit_decisions "$LOG_DIR/$target.metrics-before") || rl_before=''
	fi
	log "$target: measuring ${DURATION}s, ${CONNECTIONS} connections (CPU of pids ${pids[*]})"
	if [[ $target == weir-global ]]; then redis_before=$(cpu_ticks "$REDIS_PID") || redis_before=''; fi
	before=$(cpu_ticks "${pids[@]}") || before=''
	if ! run_wrk "$port" "$DURATION" "$LOG_DIR/$target.wrk"; then
		SKIP_REASON[$target]="wrk failed (output: $LOG_DIR/$target.wrk)"
	fi
	after=$(cpu_ticks "${pids[@]}") || after=''
	if [[ $target == weir-global ]]; then redis_after=$(cpu_ticks "$REDIS_PID") || redis_after=''; fi
	if is_limit_target "$target"; then
		rl_after=$(ratelimit_decisions "$LOG_DIR/$target.metrics") || rl_after=''
	fi
	[[ $target == origin ]] || stop_pid "$pid"

	if [[ -n ${SKIP_REASON[$target]:-} ]]; then
		log "$target: ${SKIP_REASON[$target]}"
		return
	fi
	if ! read -r requests rps p50 p99 errors < <(parse_wrk "$LOG_DIR/$target.wrk"); then
		SKIP_REASON[$target]="cannot parse wrk output ($LOG_DIR/$target.wrk)"
		log "$target: ${SKIP_REASON[$target]}"
		return
	fi
	if [[ -z $before || -z $after ]]; then
		SKIP_REASON[$target]="process exited during the run (log: $LOG_DIR/$target.log)"
		log "$target: ${SKIP_REASON[$target]}"
		return
	fi
	REQUESTS[$target]=$requests RPS[$target]=$rps P50[$target]=$p50 P99[$target]=$p99 ERRORS[$target]=$errors
	CPU_S[$target]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t / hz }')
	CPU_US[$target]=$(awk -v s="${CPU_S[$target]}" -v n="$requests" 'BEGIN { printf "%.2f", (n > 0 ? s * 1e6 / n : 0) }')
	CPU_PCT[$target]=$(awk -v s="${CPU_S[$target]}" -v d="$DURATION" 'BEGIN { printf "%.0f", s * 100 / d }')
	log "$target: ${rps} req/s, p50 ${p50} ms, p99 ${p99} ms, ${CPU_US[$target]} CPU us/req, errors ${errors}"
	if ((errors > 0)); then
		log "$target: WARNING: $errors non-2xx responses or socket errors (see $LOG_DIR/$target.wrk)"
	fi
	if [[ -n $redis_before && -n $redis_after ]]; then
		REDIS_CPU_US[$target]=$(awk -v t=$((redis_after - redis_before)) -v hz="$CLK_TCK" -v n="$requests" \
			'BEGIN { printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }')
		log "$target: redis-server used ${REDIS_CPU_US[$target]} CPU us/req on core $LOAD_CPU"
	fi
	if is_limit_target "$target"; then record_decisions "$target" "$rl_before" "$rl_after"; fi
}

# record_decisions TARGET BEFORE AFTER: the policy's decisions over the run, from
# two "admitted limited store_error" readings. A policy that decided nothing, or
# a global one whose requests mostly went to the local fallback (store_error
# above 1% of admitted), makes the run measure something else: it is flagged.
record_decisions() {
	local target=$1 a0 l0 e0 a1 l1 e1
	if [[ -z $2 || -z $3 ]]; then
		log "$target: WARNING: cannot read weir_ratelimit_decisions_total from http://127.0.0.1:$WEIR_ADMIN_PORT/metrics"
		return
	fi
	read -r a0 l0 e0 <<<"$2"
	read -r a1 l1 e1 <<<"$3"
	RL_ADMITTED[$target]=$((a1 - a0)) RL_LIMITED[$target]=$((l1 - l0)) RL_STORE_ERR[$target]=$((e1 - e0))
	RL_FLAGGED[$target]=false
	log "$target: policy decisions during the run: admitted ${RL_ADMITTED[$target]}, limited ${RL_LIMITED[$target]}, store_error ${RL_STORE_ERR[$target]}"
	if ((RL_ADMITTED[$target] + RL_STORE_ERR[$target] == 0)); then
		RL_FLAGGED[$target]=true
		log "$target: WARNING: the policy decided no request; the run did not measure a limit"
	elif ((RL_STORE_ERR[$target] * 100 > RL_ADMITTED[$target])); then
		RL_FLAGGED[$target]=true
		log "$target: WARNING: store_error is more than 1% of admitted: those requests were decided by the local fallback, not Redis (weir_ratelimit_redis_duration_seconds in $LOG_DIR/$target.metrics has the round trips by outcome)"
	fi
	if ((RL_LIMITED[$target] > 0)); then
		log "$target: WARNING: the policy limited ${RL_LIMITED[$target]} requests; it should never trigger"
	fi
}

# ---------------------------------------------------------------- main

mkdir -p "$LOG_DIR" "$(dirname "$OUT_JSON")"
build

for port in "$ORIGIN_PORT" "$WEIR_PORT" "$WEIR_ADMIN_PORT" "$NGINX_PORT" "$BARE_PORT" "$HAPROXY_PORT"; do
	if port_in_use "$port"; then
		die "port $port is already in use; stop whatever listens there (the bench uses 18001, 18080-18083, 18901)"
	fi
done

ORIGIN_BIN=$RELEASE_DIR/weir-loadtest
[[ -x $ORIGIN_BIN ]] || die "$ORIGIN_BIN is missing (run without BENCH_SKIP_BUILD=1)"
start_bg "$LOG_DIR/origin.log" taskset -c "$LOAD_CPU" \
	"$ORIGIN_BIN" origin --listen "127.0.0.1:$ORIGIN_PORT" --region local --name bench --threads 1 --no-echo
ORIGIN_PID=$STARTED_PID
wait_ready "$ORIGIN_PID" "$ORIGIN_PORT" || die "origin did not start (log: $LOG_DIR/origin.log)"

log "$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)), kernel $(uname -r)"
log "proxy on core $PROXY_CPU; origin (1 thread) and wrk (1 thread) on core $LOAD_CPU"

# In BENCH_TARGETS order when given: the first proxy measured tends to do better on this VM,
# so alternating the order between runs shows (and cancels) that bias.
for target in $TARGETS; do
	wants "$target" || continue
	bench_target "$target"
	if [[ -n $REDIS_PID ]]; then
		stop_pid "$REDIS_PID"
		REDIS_PID=''
	fi
done

# ---------------------------------------------------------------- report

ratio() { # a / b to 2 places, or empty
	[[ -n $1 && -n $2 ]] || return 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'
}

ROW_FORMAT='%-16s %10s %9s %9s %11s %6s %10s %13s %9s %9s %10s %7s\n'
# shellcheck disable=SC2059 # the format is a constant
printf "\n$ROW_FORMAT" target 'req/s' 'p50 ms' 'p99 ms' 'CPU us/req' 'CPU %' 'rps/nginx' \
	'cpu/req/bare' 'rps/weir' 'cpu/weir' 'store_err' errors
json_rows=()
flagged=0
for target in $ALL_TARGETS; do
	wants "$target" || continue
	if [[ -z ${RPS[$target]:-} ]]; then
		printf '%-16s skipped: %s\n' "$target" "${SKIP_REASON[$target]:-not run}"
		json_rows+=("$(printf '{"target":"%s","skipped":"%s"}' "$target" "${SKIP_REASON[$target]:-not run}")")
		continue
	fi
	rps_ratio=$(ratio "${RPS[$target]}" "${RPS[nginx]:-}")
	cpu_ratio=$(ratio "${CPU_US[$target]}" "${CPU_US[bare]:-}")
	rps_weir=$(ratio "${RPS[$target]}" "${RPS[weir]:-}")
	cpu_weir=$(ratio "${CPU_US[$target]}" "${CPU_US[weir]:-}")
	store_err=${RL_STORE_ERR[$target]:--}
	if [[ ${RL_FLAGGED[$target]:-} == true ]]; then
		store_err="$store_err!"
		flagged=1
	fi
	# shellcheck disable=SC2059 # the format is a constant
	printf "$ROW_FORMAT" "$target" \
		"$(printf '%.0f' "${RPS[$target]}")" "${P50[$target]}" "${P99[$target]}" "${CPU_US[$target]}" \
		"${CPU_PCT[$target]}" "${rps_ratio:--}" "${cpu_ratio:--}" "${rps_weir:--}" "${cpu_weir:--}" \
		"$store_err" "${ERRORS[$target]}"
	json_rows+=("$(printf '{"target":"%s","requests":%s,"requests_per_sec":%s,"p50_ms":%s,"p99_ms":%s,"cpu_seconds":%s,"cpu_us_per_request":%s,"cpu_percent":%s,"rps_ratio_to_nginx":%s,"cpu_ratio_to_bare_pingora":%s,"rps_ratio_to_weir":%s,"cpu_ratio_to_weir":%s,"errors":%s,"busy_before_percent":%s,"ratelimit_admitted":%s,"ratelimit_limited":%s,"ratelimit_store_errors":%s,"ratelimit_flagged":%s,"redis_cpu_us_per_request":%s}' \
		"$target" "${REQUESTS[$target]}" "${RPS[$target]}" "${P50[$target]}" "${P99[$target]}" \
		"${CPU_S[$target]}" "${CPU_US[$target]}" "${CPU_PCT[$target]}" \
		"${rps_ratio:-null}" "${cpu_ratio:-null}" "${rps_weir:-null}" "${cpu_weir:-null}" \
		"${ERRORS[$target]}" "${BUSY[$target]}" \
		"${RL_ADMITTED[$target]:-null}" "${RL_LIMITED[$target]:-null}" "${RL_STORE_ERR[$target]:-null}" \
		"${RL_FLAGGED[$target]:-null}" "${REDIS_CPU_US[$target]:-null}")")
done
printf '(origin row: CPU is the origin'"'"'s own, on the load core; other rows: the proxy'"'"'s, on core %s)\n' "$PROXY_CPU"
if [[ -n ${REDIS_CPU_US[weir-global]:-} ]]; then
	printf '(weir-global: redis-server, on core %s, used another %s CPU us/req)\n' "$LOAD_CPU" "${REDIS_CPU_US[weir-global]}"
fi
if ((flagged)); then
	printf '(!: the policy decided no request, or store_error passed 1%% of admitted: the run did not measure what its name says)\n'
fi

{
	printf '{"duration_s":%s,"warmup_s":%s,"connections":%s,"wrk_threads":1,"cpus":%s,"proxy_cpu":%s,"load_cpu":%s,"clk_tck":%s,"kernel":"%s","date":"%s","results":[' \
		"$DURATION" "$WARMUP" "$CONNECTIONS" "$NPROC" "$PROXY_CPU" "$LOAD_CPU" "$CLK_TCK" "$(uname -r)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	sep=''
	for row in "${json_rows[@]}"; do
		printf '%s\n  %s' "$sep" "$row"
		sep=','
	done
	printf '\n]}\n'
} >"$OUT_JSON"
log "results written to $OUT_JSON (wrk outputs and server logs in $LOG_DIR)"
