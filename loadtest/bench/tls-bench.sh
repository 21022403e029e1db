#!/usr/bin/env bash
# tls-bench.sh: Weir and nginx side by side with TLS, in one run, in front of the same origin and
# with the same certificate (an ECDSA P-256 leaf signed by a private CA made at run time):
#   1. keep-alive HTTP/1.1 requests/s and CPU µs per request, over HTTPS and over plain HTTP (wrk);
#   2. new TLS handshakes per second with no resumption and CPU µs per handshake
#      (openssl s_time -new: a fresh session every connection, the handshake only);
#   3. HTTP/2 over TLS requests/s and CPU µs per request (h2load);
#   4. Weir only: the time from replacing its certificate and key files to the first handshake
#      that presents the new certificate, over TLS_BENCH_SWAPS swaps.
# Prints a table with Weir ÷ nginx and writes target/bench/tls-bench.json; tool outputs and server
# logs are kept in target/bench/logs/tls-bench/. The method is in loadtest/README.md.
#
# Both proxies run pinned to core TLS_BENCH_PROXY_CPU (default 0), one worker each (nginx
# worker_processes 1, weir-gateway --threads 1); the origin and every load tool to
# TLS_BENCH_LOAD_CPU (default 1). Both stay up for the whole run (an idle one costs nothing) and
# each measurement runs Weir then nginx, so a drift of the machine during the run hits both.
# Loopback only. Missing tools are installed with apt-get (as root, or with sudo).
#
# Knobs (environment):
#   TLS_BENCH_DURATION     seconds per measured run (default 8)
#   TLS_BENCH_WARMUP       seconds of warm-up before each measured run (default 2)
#   TLS_BENCH_CONNECTIONS  wrk connections (default 50)
#   TLS_BENCH_H2_CLIENTS   h2load connections (default 10)
#   TLS_BENCH_H2_STREAMS   h2load concurrent streams per connection (default 5)
#   TLS_BENCH_HANDSHAKERS  parallel openssl s_time processes (default 4)
#   TLS_BENCH_SWAPS        certificate swaps (default 10; 0 skips the swap test)
#   TLS_BENCH_SKIP_BUILD=1 use the release binaries as they are
#   TLS_BENCH_PROXY_CPU, TLS_BENCH_LOAD_CPU   cores
#   TLS_BENCH_OUT          JSON output (default <repo>/target/bench/tls-bench.json)
#   CARGO_TARGET_DIR       where the release binaries are (default <repo>/target)
# Bounded: 4 measurements × 2 proxies × (duration + warm-up + about 1) seconds, plus about 1.5 s
# per swap: about 1 min 50 s with the defaults, plus the build.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

DURATION=${TLS_BENCH_DURATION:-8}
WARMUP=${TLS_BENCH_WARMUP:-2}
CONNECTIONS=${TLS_BENCH_CONNECTIONS:-50}
H2_CLIENTS=${TLS_BENCH_H2_CLIENTS:-10}
H2_STREAMS=${TLS_BENCH_H2_STREAMS:-5}
HANDSHAKERS=${TLS_BENCH_HANDSHAKERS:-4}
SWAPS=${TLS_BENCH_SWAPS:-10}
PROXY_CPU=${TLS_BENCH_PROXY_CPU:-0}
LOAD_CPU=${TLS_BENCH_LOAD_CPU:-1}
OUT_JSON=${TLS_BENCH_OUT:-$ROOT/target/bench/tls-bench.json}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE_DIR=$TARGET_DIR/release
LOG_DIR=$(dirname "$OUT_JSON")/logs/tls-bench
BUILD_TIMEOUT=3600

ORIGIN_PORT=18301
WEIR_HTTP_PORT=18380
WEIR_HTTPS_PORT=18343
WEIR_ADMIN_PORT=18390
NGINX_HTTP_PORT=18381
NGINX_HTTPS_PORT=18344
# The certificate's only name; clients that send no SNI get it as the default.
CERT_NAME=bench.test
CLK_TCK=$(getconf CLK_TCK)

for value in "$DURATION" "$WARMUP" "$CONNECTIONS" "$H2_CLIENTS" "$H2_STREAMS" "$HANDSHAKERS" \
	"$SWAPS" "$PROXY_CPU" "$LOAD_CPU"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value' (see the knobs at the top of $0)"
done
((DURATION > 0 && CONNECTIONS > 0 && H2_CLIENTS > 0 && H2_STREAMS > 0 && HANDSHAKERS > 0)) ||
	die "TLS_BENCH_DURATION, _CONNECTIONS, _H2_CLIENTS, _H2_STREAMS and _HANDSHAKERS must be at least 1"

# Every process this script started, stopped on exit (cleanup, from lib.sh).
STARTED_PIDS=()
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-tls-bench.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.out "$LOG_DIR"/results.tsv

# ---------------------------------------------------------------- what it needs

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
if ((${#missing[@]})); then apt_install "the TLS benchmark" "${missing[@]}"; fi
command -v taskset >/dev/null 2>&1 || die "taskset (util-linux) is needed to pin processes to cores"
NGINX_BIN=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
if (($(nproc) < 2)); then
	log "only $(nproc) CPU: proxy and load share core 0; figures will be pessimistic"
	PROXY_CPU=0 LOAD_CPU=0
fi

if [[ ${TLS_BENCH_SKIP_BUILD:-0} != 1 ]]; then
	log "cargo build --release -p weir-loadtest -p weir-gateway --bins"
	(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p weir-loadtest -p weir-gateway --bins) ||
		die "build failed"
fi
LOADTEST=$RELEASE_DIR/weir-loadtest
GATEWAY=$RELEASE_DIR/weir-gateway
[[ -x $LOADTEST && -x $GATEWAY ]] || die "release binaries missing in $RELEASE_DIR (run without TLS_BENCH_SKIP_BUILD=1)"

for port in "$ORIGIN_PORT" "$WEIR_HTTP_PORT" "$WEIR_HTTPS_PORT" "$WEIR_ADMIN_PORT" "$NGINX_HTTP_PORT" "$NGINX_HTTPS_PORT"; do
	if port_in_use "$port"; then
		die "port $port is already in use (the bench uses 18301, 18343-18344, 18380-18381 and 18390)"
	fi
done

# ---------------------------------------------------------------- certificates

# Made in WORK_DIR (removed on exit), never kept: a private CA and ECDSA P-256 leaves for
# CERT_NAME, each with its own serial so that a handshake tells which one it got.
CERT_DIR=$WORK_DIR/certs
mkdir -p "$CERT_DIR"

# new_key FILE: a P-256 private key (PKCS#8 PEM).
new_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# new_leaf NAME SERIAL: CERT_DIR/NAME.key and CERT_DIR/NAME.pem (the leaf, then the CA).
new_leaf() {
	local name=$1 serial=$2
	new_key "$CERT_DIR/$name.key"
	openssl req -new -key "$CERT_DIR/$name.key" -subj "/CN=$CERT_NAME" -out "$CERT_DIR/$name.csr" 2>/dev/null
	openssl x509 -req -in "$CERT_DIR/$name.csr" -CA "$CERT_DIR/ca.pem" -CAkey "$CERT_DIR/ca.key" \
		-set_serial "$serial" -days 2 -sha256 -extfile "$CERT_DIR/leaf.ext" -out "$CERT_DIR/$name.leaf" 2>/dev/null
	cat "$CERT_DIR/$name.leaf" "$CERT_DIR/ca.pem" >"$CERT_DIR/$name.pem"
}

new_key "$CERT_DIR/ca.key"
openssl req -x509 -new -key "$CERT_DIR/ca.key" -sha256 -days 2 -subj /CN=weir-tls-bench-ca \
	-out "$CERT_DIR/ca.pem" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:$CERT_NAME" basicConstraints=CA:FALSE keyUsage=digitalSignature \
	extendedKeyUsage=serverAuth >"$CERT_DIR/leaf.ext"
# live.*: the files both proxies are configured with (Weir's are replaced by the swap test).
new_leaf live 1000
for i in $(seq 1 "$SWAPS"); do new_leaf "swap$i" $((1000 + i)); done
CERT=$CERT_DIR/live.pem
KEY=$CERT_DIR/live.key

# ---------------------------------------------------------------- processes

fill() { # fill TEMPLATE: the template with the script's ports and paths
	sed -e "s|@PREFIX@|$WORK_DIR/nginx|g" -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" \
		-e "s/@ORIGIN_PORT@/$ORIGIN_PORT/g" -e "s/@ADMIN_PORT@/$WEIR_ADMIN_PORT/g" \
		-e "s/@HTTP_PORT@/$2/g" -e "s/@HTTPS_PORT@/$3/g" "$1"
}

log "origin on 127.0.0.1:$ORIGIN_PORT (core $LOAD_CPU)"
start_bg "$LOG_DIR/origin.log" taskset -c "$LOAD_CPU" \
	"$LOADTEST" origin --listen "127.0.0.1:$ORIGIN_PORT" --region local --name bench --threads 1 --no-echo
ORIGIN_PID=$STARTED_PID
wait_ready "$ORIGIN_PID" "$ORIGIN_PORT" || die "the origin did not start (log: $LOG_DIR/origin.log)"

fill "$BENCH_DIR/weir-tls.toml.template" "$WEIR_HTTP_PORT" "$WEIR_HTTPS_PORT" >"$WORK_DIR/weir.toml"
start_bg "$LOG_DIR/weir.log" taskset -c "$PROXY_CPU" "$GATEWAY" --config "$WORK_DIR/weir.toml" --threads 1
WEIR_PID=$STARTED_PID

mkdir -p "$WORK_DIR/nginx/logs" "$WORK_DIR/nginx/tmp"
fill "$BENCH_DIR/nginx-tls.conf.template" "$NGINX_HTTP_PORT" "$NGINX_HTTPS_PORT" >"$WORK_DIR/nginx/nginx.conf"
start_bg "$LOG_DIR/nginx.log" taskset -c "$PROXY_CPU" \
	"$NGINX_BIN" -p "$WORK_DIR/nginx" -e "$WORK_DIR/nginx/logs/error.log" -c "$WORK_DIR/nginx/nginx.conf"
NGINX_PID=$STARTED_PID

declare -A PID=([weir]=$WEIR_PID [nginx]=$NGINX_PID)
declare -A HTTP_PORT=([weir]=$WEIR_HTTP_PORT [nginx]=$NGINX_HTTP_PORT)
declare -A HTTPS_PORT=([weir]=$WEIR_HTTPS_PORT [nginx]=$NGINX_HTTPS_PORT)
TARGETS='weir nginx'

# https_check TARGET: a request over HTTP/1.1 and one over HTTP/2 through the HTTPS listener,
# verified against the CA; logs the TLS version and cipher a plain OpenSSL client gets.
https_check() {
	local target=$1 port=${HTTPS_PORT[$1]} version session
	local -a curl_args=(-s -o /dev/null --max-time 5 --cacert "$CERT_DIR/ca.pem"
		--resolve "$CERT_NAME:$port:127.0.0.1" -w '%{http_code} HTTP/%{http_version}')
	for version in --http1.1 --http2; do
		session=$(curl "${curl_args[@]}" "$version" "https://$CERT_NAME:$port/") || session="failed"
		[[ $session == "200 HTTP/"[12]* ]] || die "$target: curl $version over HTTPS answered '$session' (log: $LOG_DIR/$target.log)"
		log "$target: curl $version https://$CERT_NAME:$port/: $session"
	done
	session=$(timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername "$CERT_NAME" </dev/null 2>/dev/null |
		awk '/^New, / { print $2, $NF }') || true
	log "$target: openssl s_client negotiates ${session:-(unknown)}"
	NEGOTIATED[$target]=${session:-unknown}
}

declare -A NEGOTIATED=()
for target in $TARGETS; do
	wait_ready "${PID[$target]}" "${HTTP_PORT[$target]}" ||
		die "$target did not start proxying (log: $LOG_DIR/$target.log)"
	https_check "$target"
done

# ---------------------------------------------------------------- load

# core_ticks CPU: prints "busy total" clock ticks of one core so far, from /proc/stat.
core_ticks() {
	local line
	local -a f
	while read -r line; do
		if [[ $line == "cpu$1 "* ]]; then
			read -ra f <<<"$line"
			# cpuN user nice system idle iowait irq softirq steal
			printf '%s %s\n' $((f[1] + f[2] + f[3] + f[6] + f[7] + f[8])) \
				$((f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7] + f[8]))
			return 0
		fi
	done </proc/stat
	return 1
}

# on_load_core SECONDS COMMAND...: COMMAND pinned to the load core, bounded in time, in the
# background and waited for (so that a signal to the script stops at once).
on_load_core() {
	local seconds=$1 pid status=0
	shift
	taskset -c "$LOAD_CPU" timeout $((seconds + 30)) "$@" &
	pid=$!
	STARTED_PIDS+=("$pid")
	wait "$pid" || status=$?
	return "$status"
}

# run_tool KIND TARGET SECONDS OUT: one run of KIND's load tool against TARGET, output in OUT.
run_tool() {
	local kind=$1 target=$2 seconds=$3 out=$4 i status=0
	local -a pids=()
	case $kind in
	http) on_load_core "$seconds" wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency "http://127.0.0.1:${HTTP_PORT[$target]}/" >"$out" 2>&1 ;;
	https) on_load_core "$seconds" wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency "https://127.0.0.1:${HTTPS_PORT[$target]}/" >"$out" 2>&1 ;;
	h2) on_load_core "$seconds" h2load -t1 -c"$H2_CLIENTS" -m"$H2_STREAMS" -D"$seconds" "https://127.0.0.1:${HTTPS_PORT[$target]}/" >"$out" 2>&1 ;;
	handshake)
		# -new: a new session for every connection (no resumption); no -www: the handshake only.
		for i in $(seq 1 "$HANDSHAKERS"); do
			taskset -c "$LOAD_CPU" timeout $((seconds + 30)) openssl s_time \
				-connect "127.0.0.1:${HTTPS_PORT[$target]}" -new -time "$seconds" >"$out.$i" 2>&1 &
			pids+=("$!")
			STARTED_PIDS+=("$!")
		done
		for i in "${pids[@]}"; do wait "$i" || status=$?; done
		cat "$out".* >"$out"
		rm -f "$out".*
		return "$status"
		;;
	esac
}

# parse KIND OUT: prints "units errors" (requests or handshakes done, and failures) from a
# tool's output, or fails.
parse() {
	local requests errors
	case $1 in
	http | https)
		# parse_wrk prints "requests req_per_s p50_ms p99_ms errors".
		read -r requests _ _ _ errors < <(parse_wrk "$2") || return 1
		printf '%s %s\n' "$requests" "$errors"
		;;
	h2) awk '/^requests: / { ok = $8; bad = $10; seen = 1 }
		END { if (!seen) exit 1; printf "%s %s\n", ok, bad }' "$2" ;;
	handshake) awk '/ connections in .*s; / { n += $1; runs++ } /ERROR|error/ { bad++ }
		END { if (!runs) exit 1; printf "%d %d\n", n, bad }' "$2" ;;
	esac
}

# measure KIND TARGET: warm up, then one measured run; appends a row to results.tsv:
# kind target units seconds units_per_s cpu_us_per_unit proxy_cpu_percent load_core_busy errors
measure() {
	local kind=$1 target=$2 out=$LOG_DIR/$2-$1.out units errors
	local before after load_before load_after t0 t1
	local -a pids
	if ((WARMUP > 0)); then run_tool "$kind" "$target" "$WARMUP" "$out.warmup" || true; fi
	mapfile -t pids < <(pid_tree "${PID[$target]}")
	before=$(cpu_ticks "${pids[@]}") || die "$target exited (log: $LOG_DIR/$target.log)"
	load_before=$(core_ticks "$LOAD_CPU")
	t0=$(date +%s%N)
	run_tool "$kind" "$target" "$DURATION" "$out" || log "$target, $kind: the load tool failed (output: $out)"
	t1=$(date +%s%N)
	after=$(cpu_ticks "${pids[@]}") || die "$target exited during the $kind run (log: $LOG_DIR/$target.log)"
	load_after=$(core_ticks "$LOAD_CPU")
	read -r units errors < <(parse "$kind" "$out") || die "$target, $kind: cannot parse $out"
	# Rates over the wall time of the run (the tools' own seconds differ in rounding).
	awk -v kind="$kind" -v target="$target" -v n="$units" -v ns=$((t1 - t0)) -v ticks=$((after - before)) \
		-v hz="$CLK_TCK" -v lb="$load_before" -v la="$load_after" -v errors="$errors" 'BEGIN {
			s = ns / 1e9; split(lb, b, " "); split(la, a, " ")
			busy = (a[2] > b[2]) ? 100 * (a[1] - b[1]) / (a[2] - b[2]) : 0
			printf "%s\t%s\t%d\t%.3f\t%.1f\t%.2f\t%.0f\t%.0f\t%d\n", kind, target, n, s, n / s,
				(n > 0 ? ticks / hz * 1e6 / n : 0), 100 * ticks / hz / s, busy, errors
		}' | tee -a "$LOG_DIR/results.tsv" |
		awk -F'\t' '{ printf "==> %s, %s: %s/s, %s CPU us each, proxy CPU %s%%, load core %s%% busy, errors %s\n",
			$2, $1, $5, $6, $7, $8, $9 }' >&2
}

# Other work on the machine skews everything: say how busy it was before the run.
read -r l1 l5 l15 _ </proc/loadavg
LOADAVG_BEFORE="$l1 $l5 $l15"
log "load average before the run: $LOADAVG_BEFORE (more than about 0.5 means something else is running)"
log "$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)), kernel $(uname -r)"
log "proxies on core $PROXY_CPU; origin and load tools on core $LOAD_CPU; ${DURATION}s runs after ${WARMUP}s warm-up"
for kind in http https handshake h2; do
	for target in $TARGETS; do
		log "$target, $kind: measuring"
		measure "$kind" "$target"
	done
done

# ---------------------------------------------------------------- certificate swap

# Weir only (nginx reads its certificate at start and on a reload signal). Each swap waits a
# random 0.2-1.2 s (so the swaps do not fall in step with the gateway's file polls), replaces
# the key then the certificate by rename, and handshakes in a loop until the new serial shows.
if ((SWAPS > 0)); then
	log "weir: $SWAPS certificate swaps"
	taskset -c "$LOAD_CPU" timeout $((SWAPS * 15 + 30)) python3 - "$CERT_DIR" "$WEIR_HTTPS_PORT" "$SWAPS" \
		"$CERT_NAME" "$LOG_DIR/swap.json" <<'PYEOF' || die "the swap test failed"
import json, os, random, socket, ssl, statistics, sys, time
cert_dir, port, swaps, name, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=f"{cert_dir}/ca.pem")  # a full handshake each time: no session reuse
def serial():
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            return int(tls.getpeercert()["serialNumber"], 16)
assert serial() == 1000, "the gateway does not serve the first certificate"
times, handshakes, failures = [], 0, 0
for i in range(1, swaps + 1):
    time.sleep(random.uniform(0.2, 1.2))
    t0 = time.monotonic()
    os.replace(f"{cert_dir}/swap{i}.key", f"{cert_dir}/live.key")
    os.replace(f"{cert_dir}/swap{i}.pem", f"{cert_dir}/live.pem")
    while True:
        try:
            got = serial()
        except (OSError, ssl.SSLError):
            got, failures = None, failures + 1
        handshakes += 1
        if got == 1000 + i:
            times.append((time.monotonic() - t0) * 1000)
            break
        if time.monotonic() - t0 > 10:
            sys.exit(f"swap {i}: serial {1000 + i} not served within 10 s (last seen: {got})")
result = {"swaps": swaps, "ms": [round(t, 1) for t in times], "median_ms": round(statistics.median(times), 1),
          "max_ms": round(max(times), 1), "handshakes": handshakes, "failed_handshakes": failures}
json.dump(result, open(out, "w"))
print(f"==> weir: certificate swap: median {result['median_ms']} ms, max {result['max_ms']} ms over {swaps}; "
      f"{handshakes} handshakes while swapping, {failures} failed", file=sys.stderr)
PYEOF
fi

# ---------------------------------------------------------------- the table

python3 - "$LOG_DIR" "$OUT_JSON" "$DURATION" "$WARMUP" "$CONNECTIONS" "$H2_CLIENTS" "$H2_STREAMS" \
	"$HANDSHAKERS" "$PROXY_CPU" "$LOAD_CPU" "$(nproc)" "$(uname -r)" "${NEGOTIATED[weir]}" "${NEGOTIATED[nginx]}" \
	"$LOADAVG_BEFORE" <<'PYEOF'
import json, os, sys, time
(log_dir, out, duration, warmup, connections, h2_clients, h2_streams, handshakers, proxy_cpu, load_cpu,
 cpus, kernel, tls_weir, tls_nginx, loadavg) = sys.argv[1:16]
rows = {}
for line in open(f"{log_dir}/results.tsv"):
    kind, target, n, secs, rate, cpu_us, cpu_pct, load_busy, errors = line.rstrip("\n").split("\t")
    rows.setdefault(kind, {})[target] = {"count": int(n), "seconds": float(secs), "per_second": float(rate),
        "cpu_us_each": float(cpu_us), "proxy_cpu_percent": int(cpu_pct), "load_core_busy_percent": int(load_busy),
        "errors": int(errors)}
def ratio(a, b):
    return round(a / b, 2) if b else None
names = {"http": f"plain HTTP/1.1 keep-alive (wrk, {connections} conn)",
         "https": f"HTTPS HTTP/1.1 keep-alive (wrk, {connections} conn)",
         "handshake": f"new TLS handshakes, no resumption (openssl s_time -new x{handshakers})",
         "h2": f"HTTP/2 over TLS (h2load, {h2_clients} conn x {h2_streams} streams)"}
result = {"duration_s": int(duration), "warmup_s": int(warmup), "cpus": int(cpus), "proxy_cpu": int(proxy_cpu),
          "load_cpu": int(load_cpu), "kernel": kernel, "loadavg_before": loadavg, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
          "certificate": "ECDSA P-256 leaf + private CA", "negotiated": {"weir": tls_weir, "nginx": tls_nginx},
          "measurements": {}}
fmt = "{:<11}{:>10}{:>10}{:>9}{:>14}{:>14}{:>9}{:>8}"
print("\n" + fmt.format("", "Weir /s", "nginx /s", "÷ nginx", "Weir CPU µs", "nginx CPU µs", "÷ nginx", "errors"))
for kind in ("http", "https", "handshake", "h2"):
    w, n = rows[kind]["weir"], rows[kind]["nginx"]
    for r in (w, n):  # what one full core would do at this cost: meaningful when the load core was the limit
        r["per_second_at_full_core"] = round(1e6 / r["cpu_us_each"]) if r["cpu_us_each"] else None
    entry = {"what": names[kind], "weir": w, "nginx": n,
             "per_second_ratio": ratio(w["per_second"], n["per_second"]),
             "cpu_us_each_ratio": ratio(w["cpu_us_each"], n["cpu_us_each"])}
    result["measurements"][kind] = entry
    print(fmt.format(kind, f"{w['per_second']:.0f}", f"{n['per_second']:.0f}", str(entry["per_second_ratio"]),
                     f"{w['cpu_us_each']:.1f}", f"{n['cpu_us_each']:.1f}", str(entry["cpu_us_each_ratio"]),
                     w["errors"] + n["errors"]))
m = result["measurements"]
result["https_vs_plain"] = {"rps_ratio_https": m["https"]["per_second_ratio"], "rps_ratio_plain": m["http"]["per_second_ratio"],
                            "cpu_ratio_https": m["https"]["cpu_us_each_ratio"], "cpu_ratio_plain": m["http"]["cpu_us_each_ratio"]}
for kind in names:
    print(f"  {kind}: {names[kind]}; proxy core busy Weir {m[kind]['weir']['proxy_cpu_percent']}% nginx "
          f"{m[kind]['nginx']['proxy_cpu_percent']}%, load core busy Weir {m[kind]['weir']['load_core_busy_percent']}% "
          f"nginx {m[kind]['nginx']['load_core_busy_percent']}%")
hs = m["handshake"]
print(f"  handshakes a full proxy core would do at that CPU cost: Weir {hs['weir']['per_second_at_full_core']}/s, "
      f"nginx {hs['nginx']['per_second_at_full_core']}/s")
print(f"  HTTPS req/s ÷ nginx {m['https']['per_second_ratio']} vs plain HTTP {m['http']['per_second_ratio']}; "
      f"CPU per request ÷ nginx {m['https']['cpu_us_each_ratio']} vs {m['http']['cpu_us_each_ratio']}")
print(f"  negotiated by openssl s_client: Weir {tls_weir}, nginx {tls_nginx}")
if os.path.exists(f"{log_dir}/swap.json"):
    swap = json.load(open(f"{log_dir}/swap.json"))
    result["certificate_swap"] = swap
    print(f"certificate swap (Weir, --watch-interval 1s): median {swap['median_ms']} ms, max {swap['max_ms']} ms "
          f"over {swap['swaps']} swaps; {swap['failed_handshakes']} of {swap['handshakes']} handshakes failed meanwhile")
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(result, open(out, "w"), indent=2)
print(f"\nJSON: {out}; tool outputs and logs: {log_dir}")
PYEOF
