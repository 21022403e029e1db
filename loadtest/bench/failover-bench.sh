#!/usr/bin/env bash
# failover-bench.sh: the failover policy's figures (issue 17), with a real control plane, four
# gateways (two in us-east, two in eu-west) and real origins on loopback, the demo's fleet
# (deploy/local/fleet.toml, ports rewritten: its [failover.app] evaluates every 2 s, drains after
# 2 bad evaluations, restores after 5 good ones, ramps 50% then 100%; gateways post telemetry
# every second, as in the demo):
#   1. region death → fleet-wide drain, over --trials trials (default 10). Each: steady open-model
#      load from weir-loadtest through all four gateways; after 3 s, SIGKILL of the process that
#      serves both us-east origins; measured: the time from the kill to the last gateway having
#      applied the drain version (the control plane's GET /v1/gateways `applied_at_unix_us`),
#      split into kill → first bad evaluation (health checks + telemetry + the evaluation's
#      phase), first bad evaluation → drain committed (the policy's own wait), committed → applied
#      by every gateway (the push); and the client error ratio of the load around it. Then the
#      origins are started again on the same ports under a second load, and the trial ends when
#      the policy has ramped us-east back to its full weight (that load's error ratio and the
#      restart → restore time are printed too). The next trial starts from there.
#   2. flaps: for --flap-minutes minutes (default 10), us-east origin `a` answers 500 to 50% of
#      requests, health checks included (the origin's fault `fail_ratio`), under steady load;
#      counted: the policy's drains, ramp steps and restores in the version history, and the share
#      of the time us-east was drained.
# Prints the figures and writes target/bench/failover-bench.json; the load reports and the logs
# are kept in target/bench/logs/failover-bench/.
#
# Usage: failover-bench.sh [--trials N] [--flap-minutes N]      (0 skips that part)
#
# Knobs (environment):
#   FAILOVER_BENCH_RATE        requests/s over the four gateways (default 200)
#   FAILOVER_BENCH_PORT_BASE   first of the loopback ports it uses (default 18600; it uses
#                              BASE..BASE+40, so two runs side by side need bases 50 apart)
#   FAILOVER_BENCH_SKIP_BUILD=1  use the release binaries as they are
#   FAILOVER_BENCH_OUT         JSON output (default <repo>/target/bench/failover-bench.json)
#   CARGO_TARGET_DIR           where the release binaries are (default <repo>/target)
# Bounded: each trial gives up after 2 minutes (about 45 s each when the policy works), the flap
# part lasts its minutes plus about 30 s; about 8 + 10 minutes with the defaults, plus the build.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=loadtest/bench/lib.sh
source "$BENCH_DIR/lib.sh"

TRIALS=10
FLAP_MINUTES=10
while (($#)); do
	case $1 in
	--trials)
		TRIALS=${2:-}
		shift 2 || die "--trials needs a number"
		;;
	--flap-minutes)
		FLAP_MINUTES=${2:-}
		shift 2 || die "--flap-minutes needs a number"
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$1' (see $0 --help)" ;;
	esac
done
RATE=${FAILOVER_BENCH_RATE:-200}
BASE=${FAILOVER_BENCH_PORT_BASE:-18600}
OUT_JSON=${FAILOVER_BENCH_OUT:-$ROOT/target/bench/failover-bench.json}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE_DIR=$TARGET_DIR/release
LOG_DIR=$(dirname "$OUT_JSON")/logs/failover-bench
BUILD_TIMEOUT=3600
FLEET_SOURCE=$ROOT/deploy/local/fleet.toml

for value in "$TRIALS" "$FLAP_MINUTES" "$RATE" "$BASE"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value' (see $0 --help)"
done
((RATE >= 20)) || die "FAILOVER_BENCH_RATE must be at least 20 requests/s"
((BASE >= 1024 && BASE + 40 < 32768)) || die "FAILOVER_BENCH_PORT_BASE must be in 1024..32727"
((TRIALS > 0 || FLAP_MINUTES > 0)) || die "nothing to do: --trials 0 and --flap-minutes 0"

CP_PORT=$BASE
EAST_PORTS=($((BASE + 1)) $((BASE + 2)))      # origins a, b
WEST_PORTS=($((BASE + 11)) $((BASE + 12)))    # origins c, d
PROXY_PORTS=($((BASE + 21)) $((BASE + 22)) $((BASE + 23)) $((BASE + 24)))
ADMIN_PORTS=($((BASE + 31)) $((BASE + 32)) $((BASE + 33)) $((BASE + 34)))
GATEWAYS=(east-1 east-2 west-1 west-2)
REGIONS=(us-east us-east eu-west eu-west)

STARTED_PIDS=()
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-failover-bench.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.json "$LOG_DIR"/*.log

command -v python3 >/dev/null 2>&1 || apt_install "the failover benchmark" python3
[[ -f $FLEET_SOURCE ]] || die "$FLEET_SOURCE is missing"
for port in "$CP_PORT" "${EAST_PORTS[@]}" "${WEST_PORTS[@]}" "${PROXY_PORTS[@]}" "${ADMIN_PORTS[@]}"; do
	if port_in_use "$port"; then
		die "port $port is already in use (the bench uses $BASE..$((BASE + 40)); FAILOVER_BENCH_PORT_BASE moves them)"
	fi
done

if [[ ${FAILOVER_BENCH_SKIP_BUILD:-0} != 1 ]]; then
	log "cargo build --release -p weir-gateway -p weir-control-plane -p weir-loadtest --bins"
	(cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release -p weir-gateway -p weir-control-plane -p weir-loadtest --bins) ||
		die "build failed"
fi
GATEWAY_BIN=$RELEASE_DIR/weir-gateway
CP_BIN=$RELEASE_DIR/weir-control-plane
LOADTEST=$RELEASE_DIR/weir-loadtest
for bin in "$GATEWAY_BIN" "$CP_BIN" "$LOADTEST"; do
	[[ -x $bin ]] || die "$bin is missing (run without FAILOVER_BENCH_SKIP_BUILD=1)"
done

# ---------------------------------------------------------------- configs

# The demo's fleet up to its [dns] part (weir-dns is not run here), on this run's origin ports.
awk '/^# GSLB by DNS/ || /^\[dns/ { exit } { print }' "$FLEET_SOURCE" |
	sed -e "s/127\.0\.0\.1:9001/127.0.0.1:${EAST_PORTS[0]}/; s/127\.0\.0\.1:9002/127.0.0.1:${EAST_PORTS[1]}/" \
		-e "s/127\.0\.0\.1:9101/127.0.0.1:${WEST_PORTS[0]}/; s/127\.0\.0\.1:9102/127.0.0.1:${WEST_PORTS[1]}/" \
		>"$WORK_DIR/fleet.toml"
grep -q '^\[failover\.app\]' "$WORK_DIR/fleet.toml" || die "$FLEET_SOURCE has no [failover.app] table"
grep -q "127.0.0.1:${EAST_PORTS[1]}" "$WORK_DIR/fleet.toml" || die "$FLEET_SOURCE's us-east endpoints moved"
cp "$WORK_DIR/fleet.toml" "$LOG_DIR/fleet.toml"

new_token() { printf 'bench_%s' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
ADMIN_TOKEN=$(new_token)
GATEWAY_TOKEN=$(new_token)
printf '[[tokens]]\nname = "bench"\nrole = "admin"\nsha256 = "%s"\n\n[[tokens]]\nname = "edge"\nrole = "gateway"\nsha256 = "%s"\ngateway_id = "*"\n' \
	"$(sha "$ADMIN_TOKEN")" "$(sha "$GATEWAY_TOKEN")" >"$WORK_DIR/tokens.toml"
printf '%s\n' "$GATEWAY_TOKEN" >"$WORK_DIR/gateway.token"
chmod 600 "$WORK_DIR/tokens.toml" "$WORK_DIR/gateway.token"

# As the demo's node files: telemetry every second (access log off: it would only cost CPU).
for i in "${!GATEWAYS[@]}"; do
	printf '%s\n' \
		'[gateway]' "id = \"${GATEWAYS[i]}\"" "region = \"${REGIONS[i]}\"" '' \
		'[listen]' "http = \"127.0.0.1:${PROXY_PORTS[i]}\"" '' \
		'[admin]' "listen = \"127.0.0.1:${ADMIN_PORTS[i]}\"" '' \
		'[access_log]' 'enabled = false' '' \
		'[control_plane]' "url = \"http://127.0.0.1:$CP_PORT\"" \
		"token_file = \"$WORK_DIR/gateway.token\"" "cache_path = \"$WORK_DIR/cache-${GATEWAYS[i]}.json\"" \
		'telemetry_interval = "1s"' >"$WORK_DIR/${GATEWAYS[i]}.toml"
done

# ---------------------------------------------------------------- processes

# origin_args REGION NAME PORT...: the arguments of one weir-loadtest origin process.
origin_args() {
	local region=$1
	shift
	ORIGIN_ARGS=(origin --region "$region" --threads 1)
	while (($#)); do
		ORIGIN_ARGS+=(--listen "127.0.0.1:$2" --name "$1")
		shift 2
	done
}

origin_args eu-west c "${WEST_PORTS[0]}" d "${WEST_PORTS[1]}"
start_bg "$LOG_DIR/origins-eu-west.log" "$LOADTEST" "${ORIGIN_ARGS[@]}"
origin_args us-east a "${EAST_PORTS[0]}" b "${EAST_PORTS[1]}"
EAST_ARGS=("${ORIGIN_ARGS[@]}")
start_bg "$LOG_DIR/origins-us-east.log" "$LOADTEST" "${EAST_ARGS[@]}"
EAST_PID=$STARTED_PID
# The trials SIGKILL it on purpose: no "Killed" job notice for that.
disown "$EAST_PID" 2>/dev/null || true
log "control plane on 127.0.0.1:$CP_PORT, seeded with the demo's fleet"
start_bg "$LOG_DIR/control-plane.log" "$CP_BIN" serve --listen "127.0.0.1:$CP_PORT" \
	--data-dir "$WORK_DIR/cp-data" --tokens "$WORK_DIR/tokens.toml" --seed "$WORK_DIR/fleet.toml"
GATEWAY_PIDS=()
for i in "${!GATEWAYS[@]}"; do
	start_bg "$LOG_DIR/gateway-${GATEWAYS[i]}.log" "$GATEWAY_BIN" --config "$WORK_DIR/${GATEWAYS[i]}.toml" --threads 1
	GATEWAY_PIDS+=("$STARTED_PID")
done
for i in "${!GATEWAYS[@]}"; do
	READY_TIMEOUT=30 wait_ready "${GATEWAY_PIDS[i]}" "${PROXY_PORTS[i]}" ||
		die "gateway ${GATEWAYS[i]} does not proxy to the origins (log: $LOG_DIR/gateway-${GATEWAYS[i]}.log)"
done

read -r l1 l5 l15 _ </proc/loadavg
log "load average before the run: $l1 $l5 $l15 (the machine may be shared: figures move with it)"
log "region death: $TRIALS trials; flaps: $FLAP_MINUTES minutes; $RATE requests/s through ${#GATEWAYS[@]} gateways"

TARGETS=()
for port in "${PROXY_PORTS[@]}"; do TARGETS+=("http://127.0.0.1:$port/"); done

timeout $((TRIALS * 150 + FLAP_MINUTES * 60 + 300)) \
	python3 - "$OUT_JSON" "$LOG_DIR" "http://127.0.0.1:$CP_PORT" "$ADMIN_TOKEN" "$TRIALS" "$FLAP_MINUTES" \
	"$RATE" "$EAST_PID" "${EAST_PORTS[0]}" "$l1 $l5 $l15" "${GATEWAYS[*]}" "${TARGETS[*]}" \
	"$LOADTEST" "${EAST_ARGS[@]}" <<'PYEOF' || die "the benchmark failed (logs: $LOG_DIR)"
import json, os, signal, statistics, subprocess, sys, time, urllib.request
from datetime import datetime

(out, log_dir, cp, token, trials, flap_minutes, rate, east_pid, port_a, loadavg, gateways,
 targets) = sys.argv[1:13]
loadtest = sys.argv[13]
east_command = sys.argv[13:]
trials, flap_minutes, rate = int(trials), int(flap_minutes), int(rate)
gateways, targets = gateways.split(), targets.split()

def log(text):
    print(f"==> {text}", file=sys.stderr, flush=True)

def get(path):
    request = urllib.request.Request(cp + path, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)

def origin_fault(body):
    request = urllib.request.Request(f"http://127.0.0.1:{port_a}/_origin/fault", data=body.encode(),
                                     method="POST" if body else "DELETE",
                                     headers={"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()

def until(what, cond, limit, every=0.05):
    """Polls cond until it returns something true; its value. Gives up after limit seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    sys.exit(f"failover-bench: {what}: not within {limit} s")

def rfc3339(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

def policy_versions(after):
    """The policy's versions newer than `after`: (version, kind, time), oldest first."""
    found = []
    for v in get("/v1/versions?limit=1000")["versions"]:
        if v["version"] > after and v["author"] == "policy:failover":
            kind = v["message"].split()[1] if v["message"].startswith("failover ") else "?"
            found.append((v["version"], kind, rfc3339(v["time"]), v["message"]))
    return sorted(found)

def east():
    status = get("/v1/failover")
    return next(r for r in status["upstreams"][0]["regions"] if r["region"] == "us-east")

def applied_by_all(version):
    """The latest applied_at (Unix s) when every gateway serves `version` or later, else None."""
    view = {g["id"]: g for g in get("/v1/gateways")["gateways"]}
    times = []
    for gateway in gateways:
        g = view.get(gateway)
        if not g or (g.get("applied_version") or 0) < version or not g.get("applied_at_unix_us"):
            return None
        times.append(g["applied_at_unix_us"] / 1e6)
    return max(times)

def settled():
    """us-east healthy at its full weight, every gateway on the current version."""
    current = get("/v1/config")["version"]
    region = east()
    return region["state"] == "healthy" and region["weight"] > 0 and \
        applied_by_all(current) is not None and current

def load(name, seconds):
    """weir-loadtest run in the background through every gateway; (process, report path)."""
    report = os.path.join(log_dir, f"{name}.json")
    command = [loadtest, "run", "--rate", str(rate), "-d", f"{seconds}s", "-c", "64", "--timeout", "2s",
               "--quiet", "--json", report, *targets]
    text = open(os.path.join(log_dir, f"{name}.txt"), "w")
    return subprocess.Popen(command, stdout=text, stderr=subprocess.STDOUT), report

def finish(process, report, limit):
    process.wait(timeout=limit)
    summary = json.load(open(report))["summary"]
    ended = summary["completed"] + summary["failed"]
    return summary["error_count"], ended, summary["error_count"] / ended if ended else None

# The first us-east origin process is the script's; the next ones are this process's.
def kill_east_first():
    os.kill(int(east_pid), signal.SIGKILL)
kill_east = kill_east_first
children = []

def start_east():
    global kill_east
    child = subprocess.Popen(east_command, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(log_dir, "origins-us-east.log"), "a"))
    children.append(child)
    def kill_child(child=child):
        child.kill()
        child.wait()
    kill_east = kill_child

def stats(values):
    values = sorted(values)
    if not values:
        return None
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"n": len(values), "min": round(values[0], 3), "p50": round(statistics.median(values), 3),
            "p99": round(pick(0.99), 3), "max": round(values[-1], 3), "all": [round(v, 3) for v in values]}

result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
          "loadavg_before": loadavg, "rate": rate, "gateways": len(gateways)}
fleet = open(os.path.join(log_dir, "fleet.toml")).read()
policy = fleet[fleet.index("[failover.app]"):]
result["policy"] = " ".join(line for line in policy.splitlines() if line and not line.startswith("#"))
try:
    until("us-east healthy and every gateway on version 1", settled, 60)
    rows = []
    for trial in range(1, trials + 1):
        before = get("/v1/config")["version"]
        process, report = load(f"trial-{trial}-death", 15)
        time.sleep(3)
        killed = time.time()
        kill_east()
        drain = until("the drain version", lambda: next(
            (v for v in policy_versions(before) if v[1] == "drain"), None), 60)
        applied = until("every gateway on the drain version", lambda: applied_by_all(drain[0]), 30)
        bad = [rfc3339(e["at"]) for e in east()["last"] if e["verdict"] == "bad" and rfc3339(e["at"]) > killed]
        first_bad = min(bad) if bad else None
        errors, ended, ratio = finish(process, report, 60)
        # Back on the same ports, under load; the trial ends at the full ramp back.
        process, report = load(f"trial-{trial}-back", 25)
        time.sleep(1)
        restarted = time.time()
        start_east()
        restore = until("the ramp back", lambda: next(
            (v for v in policy_versions(drain[0]) if v[1] == "restore"), None), 120, every=0.2)
        steps = [v[1] for v in policy_versions(drain[0]) if v[0] <= restore[0]]
        back_errors, back_ended, back_ratio = finish(process, report, 60)
        until("us-east settled at full weight", settled, 30)
        row = {"trial": trial, "drain_applied_s": applied - killed,
               "kill_to_first_bad_s": (first_bad - killed) if first_bad else None,
               "first_bad_to_commit_s": (drain[2] - first_bad) if first_bad else None,
               "commit_to_applied_s": applied - drain[2], "errors": errors, "requests": ended,
               "error_ratio": ratio, "restart_to_restore_s": restore[2] - restarted, "ramp": steps,
               "back_errors": back_errors, "back_requests": back_ended, "back_error_ratio": back_ratio,
               "drain_message": drain[3]}
        rows.append(row)
        log(f"trial {trial}: drained fleet-wide {row['drain_applied_s']:.2f} s after the kill "
            f"(first bad evaluation +{row['kill_to_first_bad_s'] or float('nan'):.2f} s, committed "
            f"+{row['first_bad_to_commit_s'] or float('nan'):.2f} s, applied +{row['commit_to_applied_s']:.3f} s); "
            f"errors {errors}/{ended}; restored {row['restart_to_restore_s']:.1f} s after the restart via "
            f"{' '.join(steps)}, errors {back_errors}/{back_ended}")
    if rows:
        result["trials"] = rows
        result["drain_applied_s"] = stats([r["drain_applied_s"] for r in rows])
        for key in ("kill_to_first_bad_s", "first_bad_to_commit_s", "commit_to_applied_s",
                    "restart_to_restore_s", "error_ratio", "back_error_ratio"):
            result[key] = stats([r[key] for r in rows if r[key] is not None])
        result["errors"] = sum(r["errors"] for r in rows)
        result["requests"] = sum(r["requests"] for r in rows)

    if flap_minutes:
        before = get("/v1/config")["version"]
        evaluations = lambda: get("/v1/failover")["upstreams"][0]
        process, report = load("flap", flap_minutes * 60)
        time.sleep(2)
        origin_fault('{"status":500,"fail_ratio":0.5}')
        started = time.time()
        log(f"flaps: origin a answers 500 to 50% of requests for {flap_minutes} min")
        # Counted from the version history at the end; the status every 10 s for the log.
        samples = []
        while process.poll() is None:
            region = east()
            samples.append({"t": round(time.time() - started, 1), "state": region["state"],
                            "weight": region["weight"], "bad_in_row": region["bad_in_row"],
                            "good_in_row": region["good_in_row"]})
            time.sleep(10)
        ended_at = time.time()
        origin_fault("")
        errors, ended, ratio = finish(process, report, 60)
        versions = policy_versions(before)
        kinds = [v[1] for v in versions]
        drained_s, since = 0.0, None
        for _, kind, at, _ in versions:
            if kind == "drain" and since is None:
                since = at
            elif kind != "drain" and since is not None:
                drained_s += at - since
                since = None
        if since is not None:
            drained_s += ended_at - since
        window = ended_at - started
        result["flap"] = {"minutes": flap_minutes, "window_s": round(window, 1),
                          "drains": kinds.count("drain"), "ramps": kinds.count("ramp"),
                          "restores": kinds.count("restore"), "sequence": kinds,
                          "times_s": [round(v[2] - started, 1) for v in versions],
                          "drained_share": round(drained_s / window, 3) if window > 0 else None,
                          "errors": errors, "requests": ended, "error_ratio": ratio, "samples": samples}
        log(f"flaps: {result['flap']['drains']} drains, {result['flap']['ramps']} ramp steps, "
            f"{result['flap']['restores']} restores in {window:.0f} s; errors {errors}/{ended}")
finally:
    for child in children:
        child.kill()
        child.wait()

json.dump(result, open(out, "w"), indent=2)

def line(name, s, unit="s", scale=1.0, digits=2):
    if not s:
        return f"{name:<44} -"
    f = lambda v: f"{v * scale:.{digits}f}"
    return f"{name:<44} p50 {f(s['p50'])} {unit}, p99 {f(s['p99'])} {unit} (min {f(s['min'])}, max {f(s['max'])}; {s['n']})"

print(f"\nfailover-bench, {result['date']}, {result['cpus']} CPUs, load average before {loadavg}")
print(f"policy: {result['policy']}")
if trials:
    print(f"\nregion death → fleet-wide drain, {trials} trials, {rate} requests/s through {len(gateways)} gateways")
    print(line("kill → drain applied by every gateway", result["drain_applied_s"]))
    print(line("  kill → first bad evaluation", result["kill_to_first_bad_s"]))
    print(line("  first bad evaluation → drain committed", result["first_bad_to_commit_s"]))
    print(line("  drain committed → applied by every gateway", result["commit_to_applied_s"], "ms", 1000, 0))
    print(line("client error ratio during the death", result["error_ratio"], "%", 100, 3))
    print(f"{'  errors / requests, all trials':<44} {result['errors']} / {result['requests']}")
    print(line("origins restarted → restored (100%)", result["restart_to_restore_s"]))
    print(line("client error ratio during the ramp back", result["back_error_ratio"], "%", 100, 3))
if flap_minutes:
    f = result["flap"]
    print(f"\nflaps over {f['minutes']} min, origin a of us-east answering 500 to 50% of requests")
    print(f"policy actions: {f['drains']} drains, {f['ramps']} ramp steps, {f['restores']} restores "
          f"({' '.join(f['sequence']) or 'none'}); us-east drained {100 * (f['drained_share'] or 0):.0f}% of the time")
    print(f"client errors: {f['errors']} / {f['requests']} ({100 * (f['error_ratio'] or 0):.2f}%)")
print(f"written to {out}")
PYEOF
