# lib.sh: process and probe helpers shared by the benchmark scripts (sourced, not run).
# shellcheck shell=bash

# The generic helpers (log, die, is_alive, stop_pid, port_in_use, redis_pid, start_private_redis,
# apt_install) are shared with scripts/test.sh and deploy/local/demo.sh.
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

# start_bg LOGFILE COMMAND...: run COMMAND in the background with its output in LOGFILE; sets
# STARTED_PID and adds it to STARTED_PIDS (stopped by cleanup).
start_bg() {
	local logfile=$1
	shift
	"$@" >"$logfile" 2>&1 &
	STARTED_PID=$!
	STARTED_PIDS+=("$STARTED_PID")
}

# cleanup: stop every process in STARTED_PIDS and remove WORK_DIR; the scripts' EXIT trap.
cleanup() {
	local pid
	for pid in "${STARTED_PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [[ -n ${WORK_DIR:-} ]]; then rm -rf "$WORK_DIR"; fi
}

# metric_sum FILE NAME FILTER: the sum of every sample of NAME in a Prometheus text FILE whose
# line contains FILTER.
metric_sum() {
	awk -v name="$2" -v filter="$3" '
		index($0, name "{") == 1 && index($0, filter) { sum += $NF }
		END { printf "%.0f\n", sum }' "$1"
}

# start_bench_redis CPU LOGFILE: a private redis-server pinned to CPU, its data in WORK_DIR
# (see start_private_redis); stopped by cleanup. Sets REDIS_PID and REDIS_PORT, or returns 1.
start_bench_redis() {
	local bin
	bin=$(command -v redis-server 2>/dev/null) || return 1
	start_private_redis "$bin" "$WORK_DIR" "$2" taskset -c "$1" || return 1
	STARTED_PIDS+=("$REDIS_PID")
}

# http_get PORT PATH: prints the whole answer (status line, headers, body) to
# GET PATH on 127.0.0.1:PORT.
http_get() {
	# shellcheck disable=SC2016 # $0 and the rest expand in the inner shell
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
		printf "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" "$1" >&3
		cat <&3' "$1" "$2" 2>/dev/null
}

# GET / through 127.0.0.1:PORT; succeeds when the answer is a 200 from our origin.
probe() {
	local response
	response=$(http_get "$1" /) || return 1
	[[ $response == "HTTP/1."?" 200"* ]] && grep -qi '^x-weir-origin:' <<<"$response"
}

# Waits until PORT proxies to the origin (0); returns 1 if PID exits first,
# 2 if READY_TIMEOUT passes.
wait_ready() {
	local pid=$1 port=$2 tries=$((${READY_TIMEOUT:-20} * 10))
	while ((tries > 0)); do
		is_alive "$pid" || return 1
		probe "$port" && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	return 2
}

# PID and its direct children (nginx: master and workers).
pid_tree() {
	local parent=$1 stat rest
	local -a fields
	printf '%s\n' "$parent"
	for stat in /proc/[0-9]*/stat; do
		{ read -r rest <"$stat"; } 2>/dev/null || continue
		rest=${rest##*) }
		read -ra fields <<<"$rest"
		if [[ ${fields[1]} == "$parent" ]]; then
			stat=${stat#/proc/}
			printf '%s\n' "${stat%/stat}"
		fi
	done
}

# utime+stime (clock ticks) summed over the given pids, all threads included.
cpu_ticks() {
	local total=0 pid rest
	local -a fields
	for pid in "$@"; do
		{ read -r rest <"/proc/$pid/stat"; } 2>/dev/null || return 1
		rest=${rest##*) }
		read -ra fields <<<"$rest"
		total=$((total + fields[11] + fields[12]))
	done
	printf '%s\n' "$total"
}

# Prints "requests req_per_s p50_ms p99_ms errors" from wrk --latency output.
parse_wrk() {
	awk '
		function to_ms(v,   n, unit) {
			n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
			if (unit == "us") return n / 1000
			if (unit == "s") return n * 1000
			if (unit == "m") return n * 60000
			return n
		}
		/ requests in / { requests = $1 }
		/^Requests\/sec:/ { rps = $2 }
		$1 == "50%" { p50 = to_ms($2) }
		$1 == "99%" { p99 = to_ms($2) }
		/Non-2xx or 3xx responses:/ { errors += $NF }
		/Socket errors:/ {
			for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { x = $i; sub(/,/, "", x); errors += x }
		}
		END {
			if (requests == "" || rps == "" || p50 == "" || p99 == "") exit 1
			printf "%s %s %.3f %.3f %d\n", requests, rps, p50, p99, errors
		}' "$1"
}

# rss_kb PID...: resident memory (VmRSS, KiB) summed over the given pids.
rss_kb() {
	local total=0 pid key value _unit
	for pid in "$@"; do
		while read -r key value _unit; do
			if [[ $key == VmRSS: ]]; then total=$((total + value)); fi
		done <"/proc/$pid/status" || return 1
	done
	printf '%s\n' "$total"
}
