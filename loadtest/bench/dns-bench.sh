#!/usr/bin/env bash
# dns-bench.sh: weir-dns's figures (issue 16), in one run:
#   1. queries per second with dnsperf against weir-dns (release build, query log off) for a GSLB
#      name (policy "weighted", two members, both answered), side by side with Knot DNS serving a
#      static zone with the same two A records (same answer size); each server pinned to one core,
#      dnsperf to another. The ratio weir-dns ÷ Knot. Pinned to one core, weir-dns runs one UDP
#      worker (one per core it may use), as Knot runs one (udp-workers: 1); both batch with
#      recvmmsg/sendmmsg. dnsperf on one core may not saturate either server, so the CPU each
#      server used per query, and what a full core would do at that cost, are printed too.
#   2. the latency each server adds at a fixed offered load (dnsperf -Q, DNS_BENCH_LATENCY_QPS):
#      p50 and p99 from dnsperf -v's per-query latencies (at full load the latency is only
#      dnsperf's own queue, outstanding ÷ rate, so it says nothing about the server);
#   3. weir-dns following a control plane: the time from `weirctl drain us-east` (the command
#      started) to the first answer without us-east, over DNS_BENCH_TRIALS trials (each followed by
#      a restore, also timed), polled over UDP every millisecond;
#   4. the time from a member's death (SIGKILL of its health target) to its removal from the
#      answers, over DNS_BENCH_DEATH_TRIALS trials (probe interval DNS_BENCH_PROBE_MS, fall 3,
#      rise 5: removal is expected between 2 and 3 probe intervals).
# Prints a table and writes target/bench/dns-bench.json; tool outputs and server logs are kept in
# target/bench/logs/dns-bench/. Knot runs as a child of this script on a loopback port with its
# own config, zone and storage in a temp dir (no system service; it keeps the user it is started
# as, and needs no privilege on a high port). Missing tools are installed with apt-get.
#
# Knobs (environment):
#   DNS_BENCH_DURATION       seconds per measured dnsperf run (default 10)
#   DNS_BENCH_WARMUP         seconds of warm-up before each (default 2)
#   DNS_BENCH_OUTSTANDING    dnsperf -q: queries in flight (default 100)
#   DNS_BENCH_LATENCY_QPS    offered rate of the latency runs (default 20000)
#   DNS_BENCH_TRIALS         drain/restore trials (default 20)
#   DNS_BENCH_DEATH_TRIALS   member death trials (default 10)
#   DNS_BENCH_PROBE_MS       probe interval of the death test, ms (default 500)
#   DNS_BENCH_SKIP_BUILD=1   use the release binaries as they are
#   DNS_BENCH_SERVER_CPU, DNS_BENCH_LOAD_CPU   cores (default 0 and 1)
#   DNS_BENCH_OUT            JSON output (default <repo>/target/bench/dns-bench.json)
#   CARGO_TARGET_DIR         where the release binaries are (default <repo>/target)
# Bounded: 4 dnsperf runs × (duration + warm-up) seconds, then about 0.3 s per drain trial and
# (probe interval × 5 + 1 s) per death trial: about 1 min 30 s with the defaults, plus the build.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

DURATION=${DNS_BENCH_DURATION:-10}
WARMUP=${DNS_BENCH_WARMUP:-2}
OUTSTANDING=${DNS_BENCH_OUTSTANDING:-100}
LATENCY_QPS=${DNS_BENCH_LATENCY_QPS:-20000}
TRIALS=${DNS_BENCH_TRIALS:-20}
DEATH_TRIALS=${DNS_BENCH_DEATH_TRIALS:-10}
PROBE_MS=${DNS_BENCH_PROBE_MS:-500}
SERVER_CPU=${DNS_BENCH_SERVER_CPU:-0}
LOAD_CPU=${DNS_BENCH_LOAD_CPU:-1}
OUT_JSON=${DNS_BENCH_OUT:-$ROOT/target/bench/dns-bench.json}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE_DIR=$TARGET_DIR/release
LOG_DIR=$(dirname "$OUT_JSON")/logs/dns-bench
BUILD_TIMEOUT=3600

WEIR_PORT=18453       # weir-dns from a config file (throughput)
KNOT_PORT=18454       # Knot, the static zone
FOLLOW_PORT=18455     # weir-dns following the control plane (drain and death)
WEIR_ADMIN_PORT=18490
FOLLOW_ADMIN_PORT=18491
CP_PORT=18470
TARGET_PORT=18401     # the health target of the death test
NAME=api.gslb.example.com
PROBED=probed.gslb.example.com

for value in "$DURATION" "$WARMUP" "$OUTSTANDING" "$LATENCY_QPS" "$TRIALS" "$DEATH_TRIALS" \
	"$PROBE_MS" "$SERVER_CPU" "$LOAD_CPU"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value' (see the knobs at the top of $0)"
done
((DURATION > 0 && OUTSTANDING > 0 && LATENCY_QPS > 0 && PROBE_MS >= 100)) ||
	die "DNS_BENCH_DURATION, _OUTSTANDING and _LATENCY_QPS must be at least 1, _PROBE_MS at least 100"

STARTED_PIDS=()
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-dns-bench.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.out

# ---------------------------------------------------------------- what it needs

missing=()
command -v dnsperf >/dev/null 2>&1 || missing+=(dnsperf)
command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v knotd >/dev/null 2>&1 || [[ -x /usr/sbin/knotd ]] || missing+=(knot)
if ((${#missing[@]})); then apt_install "the DNS benchmark" "${missing[@]}"; fi
command -v taskset >/dev/null 2>&1 || die "taskset (util-linux) is needed to pin processes to cores"
KNOTD=$(command -v knotd 2>/dev/null || echo /usr/sbin/knotd)
if (($(nproc) < 2)); then
	log "only $(nproc) CPU: servers and load share core 0; figures will be pessimistic"
	SERVER_CPU=0 LOAD_CPU=0
fi

if [[ ${DNS_BENCH_SKIP_BUILD:-0} != 1 ]]; then
	log "cargo build --release -p weir-dns -p weir-control-plane -p weir-loadtest --bins"
	(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p weir-dns -p weir-control-plane -p weir-loadtest --bins) ||
		die "build failed"
fi
DNS_BIN=$RELEASE_DIR/weir-dns
CP_BIN=$RELEASE_DIR/weir-control-plane
WEIRCTL=$RELEASE_DIR/weirctl
LOADTEST=$RELEASE_DIR/weir-loadtest
for bin in "$DNS_BIN" "$CP_BIN" "$WEIRCTL" "$LOADTEST"; do
	[[ -x $bin ]] || die "$bin is missing (run without DNS_BENCH_SKIP_BUILD=1)"
done

for port in "$WEIR_PORT" "$KNOT_PORT" "$FOLLOW_PORT" "$WEIR_ADMIN_PORT" "$FOLLOW_ADMIN_PORT" "$CP_PORT" "$TARGET_PORT"; do
	if port_in_use "$port"; then
		die "port $port is already in use (the bench uses 18401, 18453-18455, 18470 and 18490-18491)"
	fi
done

# ---------------------------------------------------------------- configs

# The same two A records from both servers: weir-dns's weighted name answers both members.
cat >"$WORK_DIR/weir.toml" <<EOF
[dns]
zones = ["gslb.example.com"]
soa = { mname = "ns1.gslb.example.com", rname = "ops.example.com" }
ns = ["ns1.gslb.example.com"]

[dns.names."$NAME"]
policy = "weighted"
answers = 2
ttl = "30s"

[[dns.names."$NAME".members]]
region = "us-east"
addresses = ["192.0.2.10"]

[[dns.names."$NAME".members]]
region = "eu-west"
addresses = ["192.0.2.20"]
EOF

# The control plane's fleet: the same name, and one whose us-east member is probed.
cat - "$WORK_DIR/weir.toml" >"$WORK_DIR/fleet.toml" <<EOF
[upstreams.app]
[[upstreams.app.pools]]
region = "us-east"
endpoints = ["127.0.0.1:9"]

[[upstreams.app.pools]]
region = "eu-west"
endpoints = ["127.0.0.1:9"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"

EOF
cat >>"$WORK_DIR/fleet.toml" <<EOF

[dns.probe]
interval = "${PROBE_MS}ms"
timeout = "100ms"
fall = 3
rise = 5

[dns.names."$PROBED"]
policy = "failover"
answers = 2

[[dns.names."$PROBED".members]]
region = "us-east"
addresses = ["192.0.2.30"]
health = "http://127.0.0.1:$TARGET_PORT/healthz"

[[dns.names."$PROBED".members]]
region = "eu-west"
addresses = ["192.0.2.40"]
EOF

mkdir -p "$WORK_DIR/knot"
cat >"$WORK_DIR/knot/gslb.example.com.zone" <<EOF
\$ORIGIN gslb.example.com.
\$TTL 3600
@ SOA ns1.gslb.example.com. ops.example.com. 1 3600 600 604800 60
@ NS ns1.gslb.example.com.
api 30 A 192.0.2.10
api 30 A 192.0.2.20
EOF
# One UDP worker on one core, as weir-dns gets; nothing written back to the zone.
cat >"$WORK_DIR/knot/knot.conf" <<EOF
server:
    rundir: "$WORK_DIR/knot"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$WORK_DIR/knot/db"
template:
  - id: default
    storage: "$WORK_DIR/knot"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: gslb.example.com
    file: "gslb.example.com.zone"
EOF

# Tokens: an operator for weirctl, weir-dns's own.
new_token() { printf 'bench_%s' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
OPERATOR_TOKEN=$(new_token)
DNS_TOKEN=$(new_token)
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
printf '[[tokens]]\nname = "bench"\nrole = "admin"\nsha256 = "%s"\n\n[[tokens]]\nname = "dns"\nrole = "gateway"\nsha256 = "%s"\ngateway_id = "bench-dns"\n' \
	"$(sha "$OPERATOR_TOKEN")" "$(sha "$DNS_TOKEN")" >"$WORK_DIR/tokens.toml"
printf '%s\n' "$DNS_TOKEN" >"$WORK_DIR/dns.token"
chmod 600 "$WORK_DIR/tokens.toml" "$WORK_DIR/dns.token"

# ---------------------------------------------------------------- processes

# answers PORT [NAME]: the A answers of NAME (default the GSLB name) on PORT, sorted, one line.
answers() {
	dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short "${2:-$NAME}" A 2>/dev/null | sort | tr '\n' ' '
}

# wait_answers PORT WANT [NAME]: up to 20 s for the answers to be WANT.
wait_answers() {
	local tries=200
	while ((tries > 0)); do
		[[ $(answers "$1" "${3:-}") == "$2" ]] && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	return 1
}

BOTH="192.0.2.10 192.0.2.20 "
log "weir-dns (config file, query log off) on 127.0.0.1:$WEIR_PORT, core $SERVER_CPU"
start_bg "$LOG_DIR/weir-dns.log" taskset -c "$SERVER_CPU" "$DNS_BIN" --config "$WORK_DIR/weir.toml" \
	--listen "127.0.0.1:$WEIR_PORT" --admin "127.0.0.1:$WEIR_ADMIN_PORT" --query-log off
WEIR_PID=$STARTED_PID
log "Knot DNS $("$KNOTD" --version | awk '{ print $NF }') on 127.0.0.1:$KNOT_PORT, core $SERVER_CPU"
start_bg "$LOG_DIR/knot.log" taskset -c "$SERVER_CPU" "$KNOTD" -c "$WORK_DIR/knot/knot.conf"
KNOT_PID=$STARTED_PID
wait_answers "$WEIR_PORT" "$BOTH" || die "weir-dns does not answer $NAME (log: $LOG_DIR/weir-dns.log)"
wait_answers "$KNOT_PORT" "$BOTH" || die "Knot does not answer $NAME (log: $LOG_DIR/knot.log)"

# ---------------------------------------------------------------- throughput and latency

printf '%s A\n' "$NAME" >"$WORK_DIR/queries.txt"

# dnsperf_run PORT SECONDS OUT [ARGS...]: dnsperf on the load core, bounded in time.
dnsperf_run() {
	local port=$1 seconds=$2 out=$3 pid status=0
	shift 3
	taskset -c "$LOAD_CPU" timeout $((seconds + 30)) dnsperf -s 127.0.0.1 -p "$port" \
		-d "$WORK_DIR/queries.txt" -l "$seconds" -q "$OUTSTANDING" "$@" >"$out" 2>&1 &
	pid=$!
	STARTED_PIDS+=("$pid")
	wait "$pid" || status=$?
	return "$status"
}

# throughput TARGET PORT PID: prints "qps lost avg_latency_s server_cpu_percent".
throughput() {
	local target=$1 port=$2 pid=$3 out=$LOG_DIR/$1-qps.out before after t0 t1
	local -a pids
	if ((WARMUP > 0)); then dnsperf_run "$port" "$WARMUP" "$out.warmup" || true; fi
	mapfile -t pids < <(pid_tree "$pid")
	before=$(cpu_ticks "${pids[@]}") || die "$target exited"
	t0=$(date +%s%N)
	dnsperf_run "$port" "$DURATION" "$out" || die "$target: dnsperf failed (output: $out)"
	t1=$(date +%s%N)
	after=$(cpu_ticks "${pids[@]}") || die "$target exited during the run"
	awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v ns=$((t1 - t0)) '
		/Queries per second:/ { qps = $4 }
		/Queries lost:/ { lost = $3 }
		/Average Latency \(s\):/ { avg = $4 }
		END {
			if (qps == "") exit 1
			printf "%s %s %s %.0f\n", qps, lost, avg, 100 * ticks / hz / (ns / 1e9)
		}' "$out" || die "$target: cannot parse $out"
}

# latency TARGET PORT: prints "p50_ms p99_ms completed lost" at LATENCY_QPS offered.
latency() {
	local out=$LOG_DIR/$1-latency.out
	dnsperf_run "$2" "$DURATION" "$out" -Q "$LATENCY_QPS" -v || die "$1: dnsperf failed (output: $out)"
	awk '$1 == ">" { print $NF * 1000 }' "$out" | sort -n | awk -v out="$out" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) exit 1
			p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]
			p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
			lost = 0
			while ((getline line < out) > 0) if (line ~ /Queries lost:/) { split(line, f, " "); lost = f[3] }
			printf "%.3f %.3f %d %s\n", p50, p99, NR, lost
		}' || die "$1: cannot parse $out"
}

read -r l1 l5 l15 _ </proc/loadavg
LOADAVG_BEFORE="$l1 $l5 $l15"
log "load average before the run: $LOADAVG_BEFORE (more than about 0.5 means something else is running)"
log "$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)), kernel $(uname -r)"
declare -A QPS LOST AVG CPU P50 P99 DONE LLOST
for target in weir knot; do
	case $target in
	weir) port=$WEIR_PORT pid=$WEIR_PID ;;
	knot) port=$KNOT_PORT pid=$KNOT_PID ;;
	esac
	log "$target: throughput, dnsperf -q $OUTSTANDING for ${DURATION}s"
	read -r QPS[$target] LOST[$target] AVG[$target] CPU[$target] < <(throughput "$target" "$port" "$pid")
	log "$target: ${QPS[$target]} queries/s, ${LOST[$target]} lost, server core ${CPU[$target]}% busy"
	log "$target: latency at $LATENCY_QPS queries/s offered"
	read -r P50[$target] P99[$target] DONE[$target] LLOST[$target] < <(latency "$target" "$port")
	log "$target: p50 ${P50[$target]} ms, p99 ${P99[$target]} ms over ${DONE[$target]} queries"
done
stop_pid "$WEIR_PID"
stop_pid "$KNOT_PID"

# ---------------------------------------------------------------- drain and death

log "control plane on 127.0.0.1:$CP_PORT; weir-dns following it on 127.0.0.1:$FOLLOW_PORT"
start_bg "$LOG_DIR/control-plane.log" taskset -c "$SERVER_CPU" "$CP_BIN" serve \
	--listen "127.0.0.1:$CP_PORT" --data-dir "$WORK_DIR/cp-data" --tokens "$WORK_DIR/tokens.toml" \
	--seed "$WORK_DIR/fleet.toml"
start_bg "$LOG_DIR/target.log" taskset -c "$LOAD_CPU" "$LOADTEST" origin \
	--listen "127.0.0.1:$TARGET_PORT" --region us-east --name target --threads 1 --no-echo
TARGET_PID=$STARTED_PID
# The trials SIGKILL it on purpose: no "Killed" job notice for that.
disown "$TARGET_PID" 2>/dev/null || true
wait_ready_target() {
	local tries=100
	while ((tries > 0)); do
		[[ $(http_get "$TARGET_PORT" /healthz) == "HTTP/1."?" 200"* ]] && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	return 1
}
wait_ready_target || die "the health target did not start (log: $LOG_DIR/target.log)"
start_bg "$LOG_DIR/weir-dns-follow.log" taskset -c "$SERVER_CPU" "$DNS_BIN" \
	--control-plane "http://127.0.0.1:$CP_PORT" --token-file "$WORK_DIR/dns.token" \
	--cache "$WORK_DIR/dns-cache.json" --id bench-dns --listen "127.0.0.1:$FOLLOW_PORT" \
	--admin "127.0.0.1:$FOLLOW_ADMIN_PORT" --query-log off
wait_answers "$FOLLOW_PORT" "$BOTH" || die "weir-dns does not follow the control plane (log: $LOG_DIR/weir-dns-follow.log)"
wait_answers "$FOLLOW_PORT" "192.0.2.30 192.0.2.40 " "$PROBED" ||
	die "the probed name does not answer both members (log: $LOG_DIR/weir-dns-follow.log)"

log "weirctl drain/restore us-east: $TRIALS trials; member death: $DEATH_TRIALS trials (probe every ${PROBE_MS}ms)"
WEIR_URL="http://127.0.0.1:$CP_PORT" WEIR_TOKEN="$OPERATOR_TOKEN" taskset -c "$LOAD_CPU" \
	timeout $((TRIALS * 30 + DEATH_TRIALS * (PROBE_MS * 10 / 1000 + 30) + 60)) \
	python3 - "$WEIRCTL" "$FOLLOW_PORT" "$NAME" "$PROBED" "$TRIALS" "$DEATH_TRIALS" \
	"$TARGET_PID" "$LOG_DIR/timings.json" "$LOG_DIR/target.log" \
	"$LOADTEST" origin --listen "127.0.0.1:$TARGET_PORT" --region us-east --name target --threads 1 --no-echo \
	<<'PYEOF' || die "the drain/death trials failed"
import json, os, random, signal, socket, statistics, struct, subprocess, sys, time
weirctl, port, name, probed, trials, deaths, target_pid, out, target_log = sys.argv[1:10]
target_command = sys.argv[10:]
port, trials, deaths = int(port), int(trials), int(deaths)

def query(qname):
    """The A answers of qname from weir-dns, as a sorted tuple (one UDP query, 200 ms timeout)."""
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(l)]) + l.encode() for l in qname.split(".")) + b"\0"
    packet += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            data = s.recv(4096)
        except socket.timeout:
            return None
    rid, _, _, ancount, _, _ = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        return None
    i = len(packet)  # the question is echoed as sent
    found = []
    for _ in range(ancount):
        i += 2 if data[i] & 0xC0 == 0xC0 else data.index(b"\0", i) + 1 - i
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10])
        i += 10
        if rtype == 1:
            found.append(socket.inet_ntoa(data[i:i + rdlen]))
        i += rdlen
    return tuple(sorted(found))

def until(qname, want, limit=20.0):
    """Seconds until the answers of qname are want, polling every millisecond."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if query(qname) == want:
            return time.monotonic() - t0
        time.sleep(0.001)
    sys.exit(f"{qname}: answers not {want} within {limit} s (now {query(qname)})")

def timed(args, qname, want):
    """ms from starting `weirctl args` to the answers being want, and from its exit."""
    t0 = time.monotonic()
    subprocess.run([weirctl, *args, "-m", "dns-bench"], check=True, stdout=subprocess.DEVNULL)
    t1 = time.monotonic()
    until(qname, want)
    t2 = time.monotonic()
    return (t2 - t0) * 1000, (t2 - t1) * 1000

both, west = ("192.0.2.10", "192.0.2.20"), ("192.0.2.20",)
drain, drain_after_201, restore = [], [], []
for _ in range(trials):
    a, b = timed(["drain", "us-east"], name, west)
    drain.append(a); drain_after_201.append(b)
    restore.append(timed(["restore", "us-east"], name, both)[0])
    time.sleep(random.uniform(0.05, 0.15))

# The first health target is the script's (killed by pid); the next ones are this process's.
kill_target = lambda: os.kill(int(target_pid), signal.SIGKILL)
removal = []
try:
    for _ in range(deaths):
        until(probed, ("192.0.2.30", "192.0.2.40"), 30)
        time.sleep(random.uniform(0.0, 0.5))  # not in step with the probes
        t0 = time.monotonic()
        kill_target()
        until(probed, ("192.0.2.40",))
        removal.append((time.monotonic() - t0) * 1000)
        child = subprocess.Popen(target_command, stdout=subprocess.DEVNULL, stderr=open(target_log, "a"))
        kill_target = lambda child=child: (child.kill(), child.wait())
finally:
    if deaths:
        try:
            kill_target()
        except ProcessLookupError:
            pass

def summary(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"n": len(values), "p50_ms": round(statistics.median(values), 1), "p99_ms": round(pick(0.99), 1),
            "max_ms": round(values[-1], 1), "all_ms": [round(v, 1) for v in values]}

result = {"drain": summary(drain), "drain_after_201": summary(drain_after_201), "restore": summary(restore),
          "member_death": summary(removal)}
json.dump(result, open(out, "w"))
for key, value in result.items():
    print(f"==> {key}: p50 {value['p50_ms']} ms, p99 {value['p99_ms']} ms, max {value['max_ms']} ms over {value['n']}",
          file=sys.stderr)
PYEOF

# ---------------------------------------------------------------- the table

python3 - "$OUT_JSON" "$LOG_DIR/timings.json" "$DURATION" "$WARMUP" "$OUTSTANDING" "$LATENCY_QPS" \
	"$PROBE_MS" "$SERVER_CPU" "$LOAD_CPU" "$(nproc)" "$(uname -r)" "$LOADAVG_BEFORE" \
	"${QPS[weir]}" "${QPS[knot]}" "${LOST[weir]}" "${LOST[knot]}" "${CPU[weir]}" "${CPU[knot]}" \
	"${P50[weir]}" "${P50[knot]}" "${P99[weir]}" "${P99[knot]}" "$("$KNOTD" --version | awk '{ print $NF }')" \
	"${AVG[weir]}" "${AVG[knot]}" "${LLOST[weir]}" "${LLOST[knot]}" <<'PYEOF'
import json, sys, time
(out, timings, duration, warmup, outstanding, latency_qps, probe_ms, server_cpu, load_cpu, cpus, kernel, loadavg,
 qw, qk, lw, lk, cw, ck, p50w, p50k, p99w, p99k, knot, aw, ak, llw, llk) = sys.argv[1:28]
t = json.load(open(timings))
ratio = round(float(qw) / float(qk), 2)
# dnsperf on one core may not saturate a server: CPU per query, and what a full core would do at
# that cost, compare the servers whether or not they were saturated.
us = {k: (int(c) / 100 * 1e6 / float(q) if float(q) else 0) for k, c, q in (("weir_dns", cw, qw), ("knot", ck, qk))}
full = {k: (round(1e6 / v) if v else None) for k, v in us.items()}
full_ratio = round(full["weir_dns"] / full["knot"], 2) if full["weir_dns"] and full["knot"] else None
result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": int(cpus), "kernel": kernel,
          "loadavg_before": loadavg, "server_cpu": int(server_cpu), "load_cpu": int(load_cpu),
          "duration_s": int(duration), "warmup_s": int(warmup), "outstanding": int(outstanding), "knot": knot,
          "qps": {"weir_dns": round(float(qw)), "knot": round(float(qk)), "ratio": ratio},
          "lost": {"weir_dns": int(lw), "knot": int(lk)},
          "avg_latency_ms_at_full_load": {"weir_dns": round(float(aw) * 1000, 3), "knot": round(float(ak) * 1000, 3)},
          "latency_run_lost": {"weir_dns": int(llw), "knot": int(llk)},
          "server_core_busy_percent": {"weir_dns": int(cw), "knot": int(ck)},
          "cpu_us_per_query": {k: round(v, 2) for k, v in us.items()},
          "qps_at_full_core": {**full, "ratio": full_ratio},
          "latency_at_qps": int(latency_qps),
          "latency_ms": {"weir_dns": {"p50": float(p50w), "p99": float(p99w)},
                         "knot": {"p50": float(p50k), "p99": float(p99k)}},
          "probe_interval_ms": int(probe_ms), **t}
json.dump(result, open(out, "w"), indent=2)
print(f"""
                                   weir-dns      Knot {knot}   weir-dns ÷ Knot
queries/s, one core (dnsperf -q {outstanding})  {float(qw):>9.0f}   {float(qk):>9.0f}        {ratio}
p50 / p99 ms at {latency_qps} queries/s     {float(p50w):.3f} / {float(p99w):.3f}   {float(p50k):.3f} / {float(p99k):.3f}
server core busy                   {cw:>8}%   {ck:>8}%
CPU µs per query                   {us['weir_dns']:>9.1f}   {us['knot']:>9.1f}        {round(us['weir_dns'] / us['knot'], 2) if us['knot'] else '-'}
queries/s a full core would do     {full['weir_dns']:>9}   {full['knot']:>9}        {full_ratio}

weirctl drain -> answers changed   p50 {t['drain']['p50_ms']} ms, p99 {t['drain']['p99_ms']} ms ({t['drain']['n']} trials; from the 201: p50 {t['drain_after_201']['p50_ms']} ms, p99 {t['drain_after_201']['p99_ms']} ms)
weirctl restore -> answers back    p50 {t['restore']['p50_ms']} ms, p99 {t['restore']['p99_ms']} ms
member death -> removal            p50 {t['member_death']['p50_ms']} ms, p99 {t['member_death']['p99_ms']} ms ({t['member_death']['n']} trials; probe every {probe_ms} ms, fall 3)
written to {out}""")
PYEOF
