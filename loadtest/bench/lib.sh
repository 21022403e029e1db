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
