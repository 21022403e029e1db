# lib.sh: shell helpers shared by scripts/test.sh, deploy/local/demo.sh and the benchmark
# scripts (through loadtest/bench/lib.sh): messages, process control by pid, loopback ports,
# a private Redis, and installing missing Debian packages. Sourced, not run.
# shellcheck shell=bash

# /proc files are read with `read`, not $(<file): under set -e, bash 5.2 exits the whole script
# when $(<file) fails, even on the left of ||.

# The name errors are reported under: the script that sourced this file.
WEIR_SCRIPT_NAME=${WEIR_SCRIPT_NAME:-${0##*/}}

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$WEIR_SCRIPT_NAME" "$*" >&2
	exit 1
}

# is_alive PID: running, not exited (an exited child stays a zombie until waited for).
is_alive() {
	local stat
	if [[ -d /proc/$1 ]]; then
		{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
		stat=${stat##*) }
		[[ ${stat:0:1} != Z ]]
	else
		kill -0 "$1" 2>/dev/null
	fi
}

# stop_pid PID [SIGNAL]: send SIGNAL (default TERM), give it up to 10 s to exit, then SIGKILL
# (said on stderr); always reaps it.
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
		log "pid $pid did not stop within 10 s of SIG$signal; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# redis_pid PORT: print the process_id of the Redis on 127.0.0.1:PORT (from INFO, over bash's
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

# start_private_redis BIN DIR LOGFILE [PREFIX...]: BIN (redis-server) on a free loopback port,
# its data in DIR and its output in LOGFILE, run under PREFIX (e.g. `taskset -c 1`) when given.
# Ports are drawn below Linux's ephemeral range (32768 and up), so no outgoing connection holds
# one; random ports are tried until one works, each server given 10 s to answer as our process
# (not another one that took the port meanwhile). Sets REDIS_PID and REDIS_PORT, or returns 1.
start_private_redis() {
	local bin=$1 dir=$2 logfile=$3 port pid
	shift 3
	for _ in {1..20}; do
		port=$((20000 + RANDOM % 12768))
		if port_in_use "$port"; then continue; fi
		"$@" "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--daemonize no --dir "$dir" </dev/null >"$logfile" 2>&1 &
		pid=$!
		for _ in {1..100}; do
			is_alive "$pid" || break # exited: port taken, most likely
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

# apt_install WHY PACKAGE...: install Debian packages with apt-get (as root, or with sudo), or
# stop with a one-line instruction when that cannot be done. WHY says what needs them.
apt_install() {
	local why=$1
	shift
	local -a sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 ||
			die "missing $* ($why): run 'apt-get update && apt-get install -y $*' as root, then run $WEIR_SCRIPT_NAME again"
		sudo=(sudo)
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "missing $* ($why) and no apt-get: install them with your package manager, then run $WEIR_SCRIPT_NAME again"
	log "missing $* ($why): ${sudo[*]:+${sudo[*]} }apt-get install -y $*"
	"${sudo[@]}" apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
