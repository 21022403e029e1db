# lib.sh: process helpers shared by the benchmark scripts (sourced, not run).
# shellcheck shell=bash

# /proc files are read with `read`, not $(<file): under set -e, bash 5.2 exits
# the whole script when $(<file) fails, even on the left of ||.

# is_alive PID: running, not exited (an exited child stays a zombie until waited for).
is_alive() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

# stop_pid PID [SIGNAL]: send SIGNAL (default TERM), give it up to 10 s to exit, then SIGKILL;
# reaps it.
stop_pid() {
	local pid=$1 signal=${2:-TERM} waited=0
	if is_alive "$pid"; then
		kill -"$signal" "$pid" 2>/dev/null || true
	fi
	while is_alive "$pid" && ((waited < 100)); do
		sleep 0.1
		waited=$((waited + 1))
	done
	if is_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

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

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# metric_sum FILE NAME FILTER: the sum of every sample of NAME in a Prometheus text FILE whose
# line contains FILTER.
metric_sum() {
	awk -v name="$2" -v filter="$3" '
		index($0, name "{") == 1 && index($0, filter) { sum += $NF }
		END { printf "%.0f\n", sum }' "$1"
}

# redis_pid PORT: the process_id of the Redis on 127.0.0.1:PORT (from INFO, over bash's
# /dev/tcp, no client needed); fails when none answers.
redis_pid() {
	local line
	{
		printf 'INFO server\r\n' >&3
		while IFS= read -r -t 2 line <&3; do
			if [[ $line == process_id:* ]]; then
				line=${line#process_id:}
				printf '%s\n' "${line%$'\r'}"
				return 0
			fi
		done
	} 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1"
	return 1
}

# start_private_redis CPU LOGFILE: redis-server pinned to CPU on a free loopback port, its data
# in WORK_DIR (random ports until one works, each given 10 s to answer as our process); sets
# REDIS_PID and REDIS_PORT, or returns 1.
start_private_redis() {
	local cpu=$1 logfile=$2 bin port pid
	bin=$(command -v redis-server 2>/dev/null) || return 1
	for _ in {1..20}; do
		port=$((20000 + RANDOM % 12768))
		if port_in_use "$port"; then continue; fi
		start_bg "$logfile" taskset -c "$cpu" "$bin" --port "$port" --bind 127.0.0.1 \
			--save '' --appendonly no --daemonize no --dir "$WORK_DIR"
		pid=$STARTED_PID
		for _ in {1..100}; do
			is_alive "$pid" || break # exited: port taken, most likely
			# Ours, not another server that took the port in the meantime.
			if [[ $(redis_pid "$port") == "$pid" ]]; then
				# shellcheck disable=SC2034 # read by the script that sourced this file
				REDIS_PID=$pid REDIS_PORT=$port
				return 0
			fi
			sleep 0.1
		done
		stop_pid "$pid"
	done
	return 1
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
