#!/usr/bin/env bash
# demo.sh: build Weir (release) and run a local multi-region demo on loopback, in the
# foreground, until Ctrl-C.
#
#   weir-loadtest origin   us-east: a 127.0.0.1:9001, b 127.0.0.1:9002   (one process)
#   weir-loadtest origin   eu-west: c 127.0.0.1:9101, d 127.0.0.1:9102   (one process)
#   weir-gateway           region us-east, proxy 127.0.0.1:8080, admin 127.0.0.1:9901,
#                          config deploy/local/demo.toml (reloaded on change and on SIGHUP)
#
# Once the gateway is ready the script prints what to try: requests, admin endpoints, faults,
# live config changes. Ctrl-C (SIGINT) or SIGTERM stops every process it started, by pid.
# (Started in the background from another script, bash ignores SIGINT: use SIGTERM then.)
# Logs go to a fresh temporary directory, printed at start and kept after exit.
#
# Environment:
#   WEIR_BIN_DIR             take weir-gateway and weir-loadtest from this directory and skip the
#                            build (e.g. WEIR_BIN_DIR=target/debug after `cargo build --workspace`)
#   CARGO_TARGET_DIR         where cargo builds (default <repo>/target); binaries in its release/
#   WEIR_DEMO_CONFIG         the gateway config (default deploy/local/demo.toml); the ports above
#                            are fixed in this script, so keep listen.http and admin.listen
#   WEIR_DEMO_READY_TIMEOUT  seconds to wait for the gateway to be ready (default 30)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONFIG=${WEIR_DEMO_CONFIG:-$ROOT/deploy/local/demo.toml}
READY_TIMEOUT=${WEIR_DEMO_READY_TIMEOUT:-30}

PROXY=127.0.0.1:8080
ADMIN=127.0.0.1:9901
US_EAST=(a 127.0.0.1:9001 b 127.0.0.1:9002)
EU_WEST=(c 127.0.0.1:9101 d 127.0.0.1:9102)

# Processes started here, in start order: NAMES[i] runs as PIDS[i] and logs to LOGS[i].
# A process that exited and was reaped is removed (its pid could be reused by then).
NAMES=()
PIDS=()
LOGS=()
LOG_DIR=''

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'demo.sh: error: %s\n' "$*" >&2
	exit 1
}

[[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "WEIR_DEMO_READY_TIMEOUT must be a whole number of seconds, got '$READY_TIMEOUT'"
command -v curl >/dev/null 2>&1 || die "curl is needed (Debian: apt-get install -y curl)"
[[ -f $CONFIG ]] || die "config file $CONFIG not found (git checkout deploy/local/demo.toml restores the default)"

# ---------------------------------------------------------------- process bookkeeping

# Running, not exited: an exited child stays a zombie until waited for, and kill -0 still
# succeeds on a zombie.
is_running() {
	local stat
	if [[ -d /proc/$1 ]]; then
		{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
		stat=${stat##*) }
		[[ ${stat:0:1} != Z ]]
	else
		kill -0 "$1" 2>/dev/null
	fi
}

# forget INDEX: drop a reaped process from the lists.
forget() {
	local i=$1
	NAMES=("${NAMES[@]:0:i}" "${NAMES[@]:i+1}")
	PIDS=("${PIDS[@]:0:i}" "${PIDS[@]:i+1}")
	LOGS=("${LOGS[@]:0:i}" "${LOGS[@]:i+1}")
}

# stop PID: SIGTERM, up to 10 s to exit, then SIGKILL; always reaped.
stop_pid() {
	local pid=$1 waited=0
	if is_running "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	while is_running "$pid" && ((waited < 100)); do
		sleep 0.1
		waited=$((waited + 1))
	done
	if is_running "$pid"; then
		log "pid $pid did not stop within 10 s of SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local status=$? i
	trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
	if ((${#PIDS[@]})); then
		log "stopping the demo"
		# Newest first: the gateway, then the origins behind it.
		for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
			stop_pid "${PIDS[i]}"
			log "stopped ${NAMES[i]} (pid ${PIDS[i]})"
		done
	fi
	if [[ -n $LOG_DIR ]]; then log "logs kept in $LOG_DIR"; fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- preflight

install_cmake() {
	local -a sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 ||
			die "cmake is missing (Pingora's build needs it): run 'apt-get install -y cmake' as root, then $0 again"
		sudo=(sudo)
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "cmake is missing (Pingora's build needs it): install it with your package manager, then run $0 again"
	log "cmake is missing (Pingora's build needs it): ${sudo[*]:+${sudo[*]} }apt-get install -y cmake"
	"${sudo[@]}" apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q cmake
	command -v cmake >/dev/null 2>&1 || die "cmake is still missing after apt-get install"
}

# What listens on a TCP port (any address), or nothing.
listener_on() {
	local port=$1
	if command -v ss >/dev/null 2>&1; then
		ss -Hltnp "sport = :$port" 2>/dev/null || true
	elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "something on 127.0.0.1:$port"
	fi
}

check_ports() {
	local spec port what holder
	for spec in "${PROXY#*:}:gateway proxy" "${ADMIN#*:}:gateway admin" \
		"${US_EAST[1]#*:}:origin a (us-east)" "${US_EAST[3]#*:}:origin b (us-east)" \
		"${EU_WEST[1]#*:}:origin c (eu-west)" "${EU_WEST[3]#*:}:origin d (eu-west)"; do
		port=${spec%%:*}
		what=${spec#*:}
		holder=$(listener_on "$port")
		if [[ -n $holder ]]; then
			die "port $port ($what) is already in use; stop what listens there (an earlier demo?) and run again: $(echo "$holder" | head -n 1 | tr -s ' ')"
		fi
	done
}

if [[ -n ${WEIR_BIN_DIR:-} ]]; then
	BIN_DIR=$(cd "$WEIR_BIN_DIR" && pwd) || die "WEIR_BIN_DIR=$WEIR_BIN_DIR is not a directory"
	log "WEIR_BIN_DIR set: using the binaries in $BIN_DIR, no build"
	check_ports
else
	command -v cargo >/dev/null 2>&1 || die "cargo is needed: install the Rust toolchain (https://rustup.rs)"
	command -v cmake >/dev/null 2>&1 || install_cmake
	check_ports
	log "cargo build --release -p weir-gateway -p weir-loadtest (the first build takes several minutes)"
	(cd "$ROOT" && cargo build --release -p weir-gateway -p weir-loadtest)
	TARGET_DIR=${CARGO_TARGET_DIR:-target}
	[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
	BIN_DIR=$TARGET_DIR/release
	# The build can take minutes: look again before binding.
	check_ports
fi
GATEWAY_BIN=$BIN_DIR/weir-gateway
LOADTEST_BIN=$BIN_DIR/weir-loadtest
for bin in "$GATEWAY_BIN" "$LOADTEST_BIN"; do
	[[ -x $bin ]] || die "$bin is missing or not executable"
done

"$GATEWAY_BIN" --config "$CONFIG" --check >/dev/null ||
	die "$CONFIG is not a valid config (errors above); fix it or run: git checkout deploy/local/demo.toml"

# ---------------------------------------------------------------- start

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-demo.XXXXXX")
log "logs in $LOG_DIR"

# start NAME LOG STDOUT-FILE COMMAND...: run in the background; stderr goes to LOG.
start() {
	local name=$1 err=$2 out=$3
	shift 3
	"$@" >"$out" 2>"$err" </dev/null &
	NAMES+=("$name")
	PIDS+=("$!")
	LOGS+=("$err")
}

# origin_args REGION NAME ADDR NAME ADDR ...
origin_args() {
	local region=$1
	shift
	ORIGIN_ARGS=(origin --region "$region")
	while (($#)); do
		ORIGIN_ARGS+=(--listen "$2" --name "$1")
		shift 2
	done
}

origin_args us-east "${US_EAST[@]}"
start "origins us-east" "$LOG_DIR/origin-us-east.log" "$LOG_DIR/origin-us-east.log" "$LOADTEST_BIN" "${ORIGIN_ARGS[@]}"
US_EAST_PID=${PIDS[-1]}
origin_args eu-west "${EU_WEST[@]}"
start "origins eu-west" "$LOG_DIR/origin-eu-west.log" "$LOG_DIR/origin-eu-west.log" "$LOADTEST_BIN" "${ORIGIN_ARGS[@]}"
EU_WEST_PID=${PIDS[-1]}
start "gateway" "$LOG_DIR/gateway.log" "$LOG_DIR/gateway-access.log" "$GATEWAY_BIN" --config "$CONFIG"
GATEWAY_PID=${PIDS[-1]}

# Check that nothing exited; a process that did is reported with its log and the demo stops.
check_alive() {
	local i
	for i in "${!PIDS[@]}"; do
		if ! is_running "${PIDS[i]}"; then
			local status=0
			wait "${PIDS[i]}" || status=$?
			printf 'demo.sh: %s (pid %s) exited with status %s during start-up; last lines of %s:\n' \
				"${NAMES[i]}" "${PIDS[i]}" "$status" "${LOGS[i]}" >&2
			tail -n 20 "${LOGS[i]}" >&2 || true
			forget "$i"
			exit 1
		fi
	done
}

log "waiting up to ${READY_TIMEOUT}s for http://$ADMIN/readyz"
ready_urls=("http://$ADMIN/readyz")
for addr in "${US_EAST[1]}" "${US_EAST[3]}" "${EU_WEST[1]}" "${EU_WEST[3]}"; do
	ready_urls+=("http://$addr/_origin/stats")
done
deadline=$((SECONDS + READY_TIMEOUT))
for url in "${ready_urls[@]}"; do
	until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
		check_alive
		if ((SECONDS >= deadline)); then
			die "$url did not answer within ${READY_TIMEOUT}s; see the logs: $LOG_DIR/gateway.log (gateway), $LOG_DIR/origin-us-east.log, $LOG_DIR/origin-eu-west.log"
		fi
		sleep 0.2
	done
done

# ---------------------------------------------------------------- guide

sample=$(for _ in 1 2 3 4 5 6 7 8 9 10; do
	curl -s -o /dev/null --max-time 2 -w '%{http_code} %header{x-weir-origin-region} %header{x-weir-origin}\n' "http://$PROXY/" || true
done | sort | uniq -c)

cat <<EOF

Weir demo is up. Gateway pid $GATEWAY_PID (region us-east); origins: us-east pid $US_EAST_PID (a :9001, b :9002), eu-west pid $EU_WEST_PID (c :9101, d :9102).
Ten requests through the gateway (count, status, region, origin):
$sample

Logs ($LOG_DIR):
  access log (gateway stdout, one JSON line per request)  $LOG_DIR/gateway-access.log
  operational log (gateway stderr, JSON)                  $LOG_DIR/gateway.log
  origins                                                 $LOG_DIR/origin-us-east.log, origin-eu-west.log

Send requests (x-weir-origin and x-weir-origin-region say who answered; x-request-id is the id in the access log):
  curl -si http://$PROXY/
  for i in \$(seq 20); do curl -s -o /dev/null -w '%{http_code} %header{x-weir-origin-region} %header{x-weir-origin}\n' http://$PROXY/; done | sort | uniq -c

Admin:
  curl -s http://$ADMIN/status                 # config version, pools, endpoint health, EWMA latency, in-flight
  curl -s http://$ADMIN/metrics | grep ^weir_  # Prometheus metrics
  curl -s http://$ADMIN/readyz ; curl -s http://$ADMIN/healthz

Fail the us-east region (region_policy = "nearest" spills to eu-west within about 2 s, after two failed health checks):
  for p in 9001 9002; do curl -s -X POST -d '{"status":503}' http://127.0.0.1:\$p/_origin/fault; done
  or stop its origins: kill -STOP $US_EAST_PID (hung; kill -CONT $US_EAST_PID resumes), kill $US_EAST_PID (gone until the demo restarts)
Slow an endpoint down (power-of-two-choices on peak-EWMA latency moves traffic to the other one;
after the fault is cleared it wins traffic back gradually, as its latency estimate decays over ~1 min):
  curl -s -X POST -d '{"delay_ms":200}' http://127.0.0.1:9001/_origin/fault
Fail a share of requests (passive outlier ejection after 5 failures in a row):
  curl -s -X POST -d '{"status":500,"fail_ratio":0.5}' http://127.0.0.1:9002/_origin/fault
Restore:
  for p in 9001 9002 9101 9102; do curl -s -X DELETE http://127.0.0.1:\$p/_origin/fault; done

Hit the rate limit on /api/ (10 at once, then 5 a second per client; 429 with Retry-After):
  for i in \$(seq 15); do curl -s -o /dev/null -w '%{http_code}\n' http://$PROXY/api/; done | sort | uniq -c
  curl -si http://$PROXY/api/ | grep -iE '^(HTTP|retry-after|ratelimit)'
  curl -s http://$ADMIN/metrics | grep ^weir_ratelimit_decisions_total

Game day: requests carrying "x-game-day: on" get a 200 ms delay (20%) and a 503 (10%); others never:
  for i in \$(seq 50); do curl -s -o /dev/null -w '%{http_code}\n' -H 'x-game-day: on' http://$PROXY/; done | sort | uniq -c
  curl -s http://$ADMIN/metrics | grep ^weir_faults_injected_total
Watch retries, breakers and shedding while an endpoint fails with 503 (retried on the other one):
  curl -s -X POST -d '{"status":503}' http://127.0.0.1:9001/_origin/fault
  curl -s http://$ADMIN/metrics | grep -E '^weir_(retries|breaker|shed)'

Change the config live: edit $CONFIG (e.g. region_policy = "weighted", or weight = 0 on the
us-east pool to drain it); the gateway applies it within a second (or now: kill -HUP $GATEWAY_PID).
Check with: curl -s http://$ADMIN/status | grep -E 'config_version|region_policy|"weight"'
A rejected change is logged in $LOG_DIR/gateway.log and the previous config keeps serving.
git checkout deploy/local/demo.toml restores the default.

Ctrl-C stops everything.
EOF

# ---------------------------------------------------------------- run until stopped

# Report processes that exit (e.g. an origin killed on purpose); the demo goes on without
# them, except without the gateway.
while :; do
	for i in "${!PIDS[@]}"; do
		if ! is_running "${PIDS[i]}"; then
			name=${NAMES[i]} pid=${PIDS[i]} logfile=${LOGS[i]} status=0
			wait "$pid" || status=$?
			forget "$i"
			if [[ $name == gateway ]]; then
				printf 'demo.sh: the gateway (pid %s) exited with status %s; last lines of %s:\n' "$pid" "$status" "$logfile" >&2
				tail -n 20 "$logfile" >&2 || true
				exit 1
			fi
			log "$name (pid $pid) exited with status $status; the demo goes on without it (restart the demo to bring it back)"
			break # the indexes moved; look again on the next round
		fi
	done
	sleep 1
done
