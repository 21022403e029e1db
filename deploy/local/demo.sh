#!/usr/bin/env bash
# demo.sh: build Weir (release) and run a local multi-region demo on loopback, in the
# foreground, until Ctrl-C.
#
#   weir-loadtest origin     us-east: a 127.0.0.1:9001, b 127.0.0.1:9002   (one process)
#   weir-loadtest origin     eu-west: c 127.0.0.1:9101, d 127.0.0.1:9102   (one process)
#   weir-control-plane       API 127.0.0.1:7700, store in the state directory, seeded with
#                            deploy/local/fleet.toml as version 1
#   weir-gateway us-east     proxy 127.0.0.1:8080, admin 127.0.0.1:9901  } configured by the
#   weir-gateway eu-west     proxy 127.0.0.1:8081, admin 127.0.0.1:9902  } control plane
#   weir-dns                 DNS 127.0.0.1:5353 (UDP, TCP), admin 127.0.0.1:9953; follows the
#                            control plane too and serves fleet.toml's [dns] GSLB name
#
# Once everything is ready the script prints what to try (weirctl drain, restore, rollback;
# the failover policy draining a failed region fleet-wide and ramping it back; traffic through
# both gateways; DNS answers that follow drains and gateway health; the control
# plane stopped while the gateways and weir-dns keep serving).
# The script owns the control plane's restarts: `<state dir>/cp stop|start|restart` (printed in
# the guide) asks it, by SIGUSR1 (stop) and SIGUSR2 (start), to stop or start the control plane
# it tracks, so every process stays one the script will stop.
# Ctrl-C (SIGINT) or SIGTERM stops every process it started, by pid.
# (Started in the background from another script, bash ignores SIGINT: use SIGTERM then.)
# Tokens, node files, the store, the gateways' caches and the logs go to a fresh temporary
# directory, printed at start and kept after exit.
#
# Environment:
#   WEIR_BIN_DIR             take the binaries from this directory and skip the build
#                            (e.g. WEIR_BIN_DIR=target/debug after `cargo build --workspace`)
#   CARGO_TARGET_DIR         where cargo builds (default <repo>/target); binaries in its release/
#   WEIR_DEMO_FLEET          the fleet config to seed (default deploy/local/fleet.toml)
#   WEIR_DEMO_READY_TIMEOUT  seconds to wait for everything to be ready (default 30)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FLEET=${WEIR_DEMO_FLEET:-$ROOT/deploy/local/fleet.toml}
READY_TIMEOUT=${WEIR_DEMO_READY_TIMEOUT:-30}

CONTROL_PLANE=127.0.0.1:7700
PROXY=127.0.0.1:8080
ADMIN=127.0.0.1:9901
PROXY_WEST=127.0.0.1:8081
ADMIN_WEST=127.0.0.1:9902
DNS=127.0.0.1:5353
ADMIN_DNS=127.0.0.1:9953
US_EAST=(a 127.0.0.1:9001 b 127.0.0.1:9002)
EU_WEST=(c 127.0.0.1:9101 d 127.0.0.1:9102)

# Processes started here, in start order: NAMES[i] runs as PIDS[i] and logs to LOGS[i].
# A process that exited and was reaped is removed (its pid could be reused by then).
NAMES=()
PIDS=()
LOGS=()
LOG_DIR=''

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

[[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "WEIR_DEMO_READY_TIMEOUT must be a whole number of seconds, got '$READY_TIMEOUT'"
command -v curl >/dev/null 2>&1 || die "curl is needed (Debian: apt-get install -y curl)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is needed (Debian: apt-get install -y coreutils)"
[[ -f $FLEET ]] || die "fleet config $FLEET not found (git checkout deploy/local/fleet.toml restores the default)"

# ---------------------------------------------------------------- process bookkeeping

# forget INDEX: drop a reaped process from the lists.
forget() {
	local i=$1
	NAMES=("${NAMES[@]:0:i}" "${NAMES[@]:i+1}")
	PIDS=("${PIDS[@]:0:i}" "${PIDS[@]:i+1}")
	LOGS=("${LOGS[@]:0:i}" "${LOGS[@]:i+1}")
}

cleanup() {
	local status=$? i
	trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
	if ((${#PIDS[@]})); then
		log "stopping the demo"
		# Newest first: the gateways, the control plane, then the origins behind them.
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
	for spec in "${CONTROL_PLANE#*:}:control plane" \
		"${PROXY#*:}:gateway us-east proxy" "${ADMIN#*:}:gateway us-east admin" \
		"${PROXY_WEST#*:}:gateway eu-west proxy" "${ADMIN_WEST#*:}:gateway eu-west admin" \
		"${DNS#*:}:weir-dns (TCP)" "${ADMIN_DNS#*:}:weir-dns admin" \
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
	command -v cmake >/dev/null 2>&1 || apt_install "Pingora's build needs it" cmake
	check_ports
	log "cargo build --release -p weir-gateway -p weir-control-plane -p weir-loadtest -p weir-dns (the first build takes several minutes)"
	(cd "$ROOT" && cargo build --release -p weir-gateway -p weir-control-plane -p weir-loadtest -p weir-dns)
	TARGET_DIR=${CARGO_TARGET_DIR:-target}
	[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
	BIN_DIR=$TARGET_DIR/release
	# The build can take minutes: look again before binding.
	check_ports
fi
GATEWAY_BIN=$BIN_DIR/weir-gateway
LOADTEST_BIN=$BIN_DIR/weir-loadtest
CP_BIN=$BIN_DIR/weir-control-plane
WEIRCTL=$BIN_DIR/weirctl
DNS_BIN=$BIN_DIR/weir-dns
for bin in "$GATEWAY_BIN" "$LOADTEST_BIN" "$CP_BIN" "$WEIRCTL" "$DNS_BIN"; do
	[[ -x $bin ]] || die "$bin is missing or not executable"
done

# ---------------------------------------------------------------- start

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-demo.XXXXXX")
log "state and logs in $LOG_DIR"

# Tokens: random, shown in the guide; the control plane's file keeps only their SHA-256.
new_token() { printf 'demo_%s' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
ADMIN_TOKEN=$(new_token)
READ_TOKEN=$(new_token)
EAST_TOKEN=$(new_token)
WEST_TOKEN=$(new_token)
DNS_TOKEN=$(new_token)
# token_entry NAME ROLE TOKEN [GATEWAY_ID]: a gateway token speaks only for its gateway id.
token_entry() {
	printf '[[tokens]]\nname = "%s"\nrole = "%s"\nsha256 = "%s"\n' \
		"$1" "$2" "$(printf '%s' "$3" | sha256sum | cut -d' ' -f1)"
	if [[ -n ${4:-} ]]; then printf 'gateway_id = "%s"\n' "$4"; fi
	printf '\n'
}
{
	token_entry operator admin "$ADMIN_TOKEN"
	token_entry dashboard read "$READ_TOKEN"
	token_entry edge-us-east gateway "$EAST_TOKEN" demo-us-east
	token_entry edge-eu-west gateway "$WEST_TOKEN" demo-eu-west
	# weir-dns takes the same stream and reports as a gateway: role gateway, bound to its id.
	token_entry gslb-dns gateway "$DNS_TOKEN" demo-dns
} >"$LOG_DIR/tokens.toml"
printf '%s\n' "$EAST_TOKEN" >"$LOG_DIR/gateway-us-east.token"
printf '%s\n' "$WEST_TOKEN" >"$LOG_DIR/gateway-eu-west.token"
printf '%s\n' "$DNS_TOKEN" >"$LOG_DIR/dns.token"
chmod 600 "$LOG_DIR/tokens.toml" "$LOG_DIR/gateway-us-east.token" "$LOG_DIR/gateway-eu-west.token" "$LOG_DIR/dns.token"

# node_file REGION PROXY ADMIN: a gateway's own file; the fleet part comes from the control plane.
node_file() {
	printf '%s\n' \
		'[gateway]' "id = \"demo-$1\"" "region = \"$1\"" '' \
		'[listen]' "http = \"$2\"" '' \
		'[admin]' "listen = \"$3\"" '' \
		'[access_log]' 'enabled = true' 'path = "stdout"' '' \
		'[control_plane]' "url = \"http://$CONTROL_PLANE\"" \
		"token_file = \"$LOG_DIR/gateway-$1.token\"" "cache_path = \"$LOG_DIR/cache-$1.json\"" \
		'# Telemetry every second, so that the failover policy in fleet.toml acts within seconds.' \
		'telemetry_interval = "1s"' \
		>"$LOG_DIR/gateway-$1.toml"
	"$GATEWAY_BIN" --config "$LOG_DIR/gateway-$1.toml" --check >/dev/null ||
		die "the node file $LOG_DIR/gateway-$1.toml is invalid (errors above)"
}
node_file us-east "$PROXY" "$ADMIN"
node_file eu-west "$PROXY_WEST" "$ADMIN_WEST"

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
CP_ARGS=(serve --listen "$CONTROL_PLANE" --data-dir "$LOG_DIR/cp-data" --tokens "$LOG_DIR/tokens.toml")
start "control plane" "$LOG_DIR/control-plane.log" "$LOG_DIR/control-plane.log" "$CP_BIN" "${CP_ARGS[@]}" --seed "$FLEET"
CP_PID=${PIDS[-1]}

# ---------------------------------------------------------------- control-plane restarts

# The guide's `cp` helper signals this script; the main loop does the work, so the control plane
# is always a process this script tracks and stops on exit.
# Requests are counted, never reset, so one arriving while another is handled is not lost.
CP_STOPS=0 CP_STARTS=0 CP_STOPS_DONE=0 CP_STARTS_DONE=0
trap 'CP_STOPS=$((CP_STOPS + 1))' USR1
trap 'CP_STARTS=$((CP_STARTS + 1))' USR2

# index_of NAME: the index of a tracked process, or nothing.
index_of() {
	local i
	for i in "${!NAMES[@]}"; do
		if [[ ${NAMES[i]} == "$1" ]]; then
			echo "$i"
			return
		fi
	done
}

stop_control_plane() {
	local i
	i=$(index_of "control plane")
	if [[ -z $i ]]; then
		log "the control plane is not running"
		return
	fi
	stop_pid "${PIDS[i]}"
	log "stopped the control plane (pid ${PIDS[i]}); the gateways keep serving what they hold"
	forget "$i"
}

start_control_plane() {
	if [[ -n $(index_of "control plane") ]]; then
		log "the control plane already runs (pid $CP_PID)"
		return
	fi
	# Appended to the log of the first start.
	"$CP_BIN" "${CP_ARGS[@]}" >>"$LOG_DIR/control-plane.log" 2>&1 </dev/null &
	NAMES+=("control plane")
	PIDS+=("$!")
	LOGS+=("$LOG_DIR/control-plane.log")
	CP_PID=$!
	log "started the control plane again (pid $CP_PID); the gateways reconnect and catch up by themselves"
}

# The helper the guide prints: asks this script (pid $$) and waits for the answer on the port.
cat >"$LOG_DIR/cp" <<HELPER
#!/usr/bin/env bash
# Stop or start the demo's control plane; demo.sh (pid $$) does it and keeps track of it.
set -euo pipefail
up() { curl -fsS -o /dev/null --max-time 1 "http://$CONTROL_PLANE/healthz" 2>/dev/null; }
wait_for() {
	local want=\$1 _
	for _ in \$(seq 100); do
		if [[ \$want == up ]] && up; then echo "control plane up on $CONTROL_PLANE"; return 0; fi
		if [[ \$want == down ]] && ! up; then echo "control plane stopped"; return 0; fi
		sleep 0.1
	done
	echo "the control plane did not come \$want within 10 s; see $LOG_DIR/control-plane.log" >&2
	return 1
}
kill -0 $$ 2>/dev/null || { echo "demo.sh (pid $$) is not running" >&2; exit 1; }
case \${1:-} in
stop) kill -USR1 $$ && wait_for down ;;
start) kill -USR2 $$ && wait_for up ;;
restart) kill -USR1 $$ && wait_for down && kill -USR2 $$ && wait_for up ;;
*) echo "usage: \$0 stop|start|restart" >&2; exit 2 ;;
esac
HELPER
chmod 755 "$LOG_DIR/cp"
start "gateway us-east" "$LOG_DIR/gateway-us-east.log" "$LOG_DIR/gateway-us-east-access.log" \
	"$GATEWAY_BIN" --config "$LOG_DIR/gateway-us-east.toml"
GATEWAY_PID=${PIDS[-1]}
start "gateway eu-west" "$LOG_DIR/gateway-eu-west.log" "$LOG_DIR/gateway-eu-west-access.log" \
	"$GATEWAY_BIN" --config "$LOG_DIR/gateway-eu-west.toml"
GATEWAY_WEST_PID=${PIDS[-1]}
start "weir-dns" "$LOG_DIR/dns.log" "$LOG_DIR/dns-queries.log" \
	"$DNS_BIN" --control-plane "http://$CONTROL_PLANE" --token-file "$LOG_DIR/dns.token" \
	--cache "$LOG_DIR/cache-dns.json" --id demo-dns --listen "$DNS" --admin "$ADMIN_DNS" --query-log stdout
DNS_PID=${PIDS[-1]}

# Check that nothing exited; a process that did is reported with its log and the demo stops.
check_alive() {
	local i
	for i in "${!PIDS[@]}"; do
		if ! is_alive "${PIDS[i]}"; then
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

log "waiting up to ${READY_TIMEOUT}s for the control plane, both gateways, weir-dns and the origins"
ready_urls=("http://$CONTROL_PLANE/healthz" "http://$ADMIN/readyz" "http://$ADMIN_WEST/readyz" "http://$ADMIN_DNS/readyz")
for addr in "${US_EAST[1]}" "${US_EAST[3]}" "${EU_WEST[1]}" "${EU_WEST[3]}"; do
	ready_urls+=("http://$addr/_origin/stats")
done
deadline=$((SECONDS + READY_TIMEOUT))
for url in "${ready_urls[@]}"; do
	until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
		check_alive
		if ((SECONDS >= deadline)); then
			die "$url did not answer within ${READY_TIMEOUT}s; see the logs in $LOG_DIR (control-plane.log, gateway-us-east.log, gateway-eu-west.log, dns.log, origin-*.log)"
		fi
		sleep 0.2
	done
done

# ---------------------------------------------------------------- guide

# requests N PROXY: N requests, counted by status, region and origin.
requests() {
	local _
	for _ in $(seq "$1"); do
		curl -s -o /dev/null --max-time 2 -w '%{http_code} %header{x-weir-origin-region} %header{x-weir-origin}\n' "http://$2/" || true
	done | sort | uniq -c
}

# dig_gslb: weir-dns's answers for the demo's GSLB name, one line.
dig_gslb() {
	if command -v dig >/dev/null 2>&1; then
		dig @"${DNS%:*}" -p "${DNS#*:}" +short +time=1 +tries=1 api.gslb.example.com | sort | paste -sd ' ' -
	else
		echo "(dig is not installed: apt-get install -y dnsutils)"
	fi
}

cat <<EOF

Weir demo is up.
  control plane  http://$CONTROL_PLANE (pid $CP_PID); version 1 is $FLEET
  gateways       us-east: proxy $PROXY, admin $ADMIN (pid $GATEWAY_PID)
                 eu-west: proxy $PROXY_WEST, admin $ADMIN_WEST (pid $GATEWAY_WEST_PID)
  origins        us-east pid $US_EAST_PID (a :9001, b :9002), eu-west pid $EU_WEST_PID (c :9101, d :9102)
  weir-dns       DNS $DNS (UDP, TCP), admin $ADMIN_DNS (pid $DNS_PID); query log $LOG_DIR/dns-queries.log

Ten requests through each gateway (count, status, region, origin): each keeps its region's traffic home.
us-east gateway:
$(requests 10 "$PROXY")
eu-west gateway:
$(requests 10 "$PROXY_WEST")

Operate the fleet with weirctl (paste these two lines first):
  export WEIR_URL=http://$CONTROL_PLANE WEIR_TOKEN=$ADMIN_TOKEN
  alias weirctl=$WEIRCTL
  weirctl status                          # the version, and which gateway runs which
Drain a region and watch its traffic move (both gateways apply it within milliseconds):
  weirctl drain us-east -m "game day"
  for i in \$(seq 10); do curl -s -o /dev/null -w '%{http_code} %header{x-weir-origin-region}\n' http://$PROXY/; done | sort | uniq -c
  weirctl restore us-east                 # back home, ramping up over 10 s (slow start)
Take one endpoint out of rotation (no new requests; those in flight finish; health checks go on):
  weirctl drain --endpoint ${US_EAST[3]} -m "reboot b"
  curl -s http://$ADMIN/status | grep -E '"(address|drained|slow_start)"'
  weirctl restore --endpoint ${US_EAST[3]}    # back in rotation, through slow start
Shift weight, read the history, roll back in one command:
  weirctl weight app eu-west 50 -m "less to eu-west"
  weirctl config history
  weirctl config rollback 1
  weirctl config get > /tmp/fleet.toml    # edit, then: weirctl config apply -f /tmp/fleet.toml --dry-run
  weirctl gateways ; weirctl audit
GSLB by DNS: weir-dns answers api.gslb.example.com with each ready, undrained region's address
(us-east 127.0.0.1, eu-west 127.0.0.2); now: $(dig_gslb)
  dig @${DNS%:*} -p ${DNS#*:} +short api.gslb.example.com
  weirctl drain us-east -m "dns game day"   # 127.0.0.1 leaves the answers within one push
  dig @${DNS%:*} -p ${DNS#*:} +short api.gslb.example.com ; weirctl dns
  weirctl restore us-east                   # back in the answers
  kill -STOP $GATEWAY_PID    # freeze the us-east gateway: its /readyz stops answering, out after 2 failed probes (~2 s)
  dig @${DNS%:*} -p ${DNS#*:} +short api.gslb.example.com ; weirctl dns
  kill -CONT $GATEWAY_PID    # thaw it: back after 3 good probes (~3 s)
  curl -s http://$ADMIN_DNS/status ; curl -s http://$ADMIN_DNS/metrics | grep ^weir_dns
The fleet keeps serving without its control plane (this script stops and starts it, and
stops it on exit like everything else):
  # stop it: the gateways and weir-dns answer as before, from the config they hold
  $LOG_DIR/cp stop
  # start it again: the gateways reconnect and catch up by themselves
  $LOG_DIR/cp start

Fail the us-east region (nearest spills to eu-west within about 2 s, after two failed health checks;
then the failover policy drains us-east fleet-wide after ~5 s: 2 bad evaluations 2 s apart):
  for p in 9001 9002; do curl -s -X POST -d '{"status":503}' http://127.0.0.1:\$p/_origin/fault; done
  weirctl failover status ; weirctl telemetry ; weirctl config history    # the drain, by policy:failover
  for p in 9001 9002; do curl -s -X DELETE http://127.0.0.1:\$p/_origin/fault; done    # clear the fault
  # ~12 s after the fault is cleared (5 good evaluations) us-east ramps back: 50%, then 100% 2 s later
  weirctl failover status ; weirctl config history
  weirctl failover pause app ; weirctl failover resume app    # stop the policy's actions, and resume
Rate limit on /api/ (10 at once, then 5 a second per client; 429 with Retry-After):
  for i in \$(seq 15); do curl -s -o /dev/null -w '%{http_code}\n' http://$PROXY/api/; done | sort | uniq -c
Game day: requests with "x-game-day: on" get a 200 ms delay (20%) and a 503 (10%); others never:
  for i in \$(seq 50); do curl -s -o /dev/null -w '%{http_code}\n' -H 'x-game-day: on' http://$PROXY/; done | sort | uniq -c

Game days under load (weir-loadtest; the HTML report has the charts, actions marked):
  $LOADTEST_BIN scenario $ROOT/loadtest/scenarios/region-dies.toml --html /tmp/region-dies.html
  PATH=$BIN_DIR:\$PATH $LOADTEST_BIN scenario $ROOT/loadtest/scenarios/region-failover.toml --html /tmp/region-failover.html
  $LOADTEST_BIN scenario $ROOT/loadtest/scenarios/rate-limit-flood.toml --html /tmp/flood.html
  $LOADTEST_BIN run --rate 500 -d 10s http://$PROXY/ --assert 'p99 < 50ms'

Admin:  curl -s http://$ADMIN/status ; curl -s http://$ADMIN/metrics | grep ^weir_
        curl -s -H "authorization: Bearer \$WEIR_TOKEN" http://$CONTROL_PLANE/metrics | grep ^weir_cp
Logs in $LOG_DIR: control-plane.log, gateway-<region>.log (JSON), gateway-<region>-access.log, dns.log, dns-queries.log, origin-*.log

Ctrl-C stops everything.
EOF

# ---------------------------------------------------------------- run until stopped

# Report processes that exit (e.g. the control plane or an origin stopped on purpose); the demo
# goes on without them, except without a gateway. Stop and start the control plane when asked.
while :; do
	if ((CP_STOPS > CP_STOPS_DONE)); then
		CP_STOPS_DONE=$CP_STOPS
		stop_control_plane
	fi
	if ((CP_STARTS > CP_STARTS_DONE)); then
		CP_STARTS_DONE=$CP_STARTS
		start_control_plane
	fi
	for i in "${!PIDS[@]}"; do
		if ! is_alive "${PIDS[i]}"; then
			name=${NAMES[i]} pid=${PIDS[i]} logfile=${LOGS[i]} status=0
			wait "$pid" || status=$?
			forget "$i"
			if [[ $name == gateway* ]]; then
				printf 'demo.sh: %s (pid %s) exited with status %s; last lines of %s:\n' "$name" "$pid" "$status" "$logfile" >&2
				tail -n 20 "$logfile" >&2 || true
				exit 1
			fi
			log "$name (pid $pid) exited with status $status; the demo goes on without it"
			break # the indexes moved; look again on the next round
		fi
	done
	sleep 1
done
