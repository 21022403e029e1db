#!/usr/bin/env bash
# test-deploy.sh: check the deploy artefacts (deploy/, docs/operating.md); a step of test.sh, run
# after the binaries are built (it uses target/debug). Each check says what it proves:
#
#   systemd      the units verify (systemd-analyze verify prints nothing) and their sandboxing
#                scores "OK" (systemd-analyze security --offline: exposure at most 3.0, which is
#                --threshold=30 on its 0-100 scale); skipped, with a message, only where
#                systemd-analyze is missing; and weir-gateway-upgrade, run against a stand-in
#                systemctl and notify socket, replaces a running gateway (SIGUSR2, MAINPID=)
#   kubernetes   every kustomize overlay renders (kubectl kustomize, offline) and validates
#                against the Kubernetes 1.32 schemas, strictly (kubernetes-validate, from PyPI
#                into a venv under the target dir: this fails if it cannot be installed), then
#                check_deploy.py's cross-checks (ServiceMonitors, probes, drain timing, the
#                ConfigMap's gateway.toml through weir-gateway --check)
#   prometheus   the alert rules parse and their unit tests pass (promtool), and the rules and the
#                Grafana dashboard name only metrics and labels Weir registers (check_deploy.py)
#   container    the registry-free image's root file system (build-rootfs.sh) runs: the gateway
#                under chroot as uid 65532 serves a request through to an origin, the image's
#                HEALTHCHECK command passes, and SIGTERM stops it with status 0. Without root,
#                the same through the rootfs's own dynamic loader and libraries. A container
#                runtime is used only to say whether one could run here.
#
# Environment: CARGO_TARGET_DIR (default <repo>/target); WEIR_KEEP_WORK=1 keeps the work directory
# (rendered manifests, logs) for a look after a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/debug
for bin in weir-gateway weir-control-plane weir-dns weirctl weir-loadtest; do
	[[ -x $BIN/$bin ]] || die "$BIN/$bin not found: cargo build --workspace --bins first"
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/weir-test-deploy.XXXXXX")
PIDS=()
cleanup() {
	local pid
	# A successor the upgrade-helper check made (started by the gateway, not by this script) is
	# named in the old gateway's log.
	if [[ -f $WORK/upgrade/gateway.log ]]; then
		while read -r pid; do
			PIDS+=("$pid")
		done < <(grep -o '"upgrade: successor started","signal":"SIGUSR2","pid":[0-9]*' \
			"$WORK/upgrade/gateway.log" | grep -o '[0-9]*$')
	fi
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	[[ -n ${WEIR_KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- systemd

check_systemd() {
	if ! command -v systemd-analyze >/dev/null 2>&1; then
		log "systemd: SKIPPED: systemd-analyze is not installed here (Debian: systemd)"
		return 0
	fi
	# The units name /usr/local/bin/weir-*; verify needs the executables, so it checks copies
	# that point at this build's (nothing else differs).
	local unit out
	mkdir -p "$WORK/systemd"
	for unit in deploy/systemd/*.service; do
		sed "s|/usr/local/bin/|$BIN/|g" "$unit" >"$WORK/systemd/${unit##*/}"
	done
	out=$(systemd-analyze verify "$WORK"/systemd/*.service 2>&1) || die "systemd-analyze verify failed: $out"
	[[ -z $out ]] || die "systemd-analyze verify: $out"
	for unit in "$WORK"/systemd/*.service; do
		systemd-analyze security --offline=true --threshold=30 --no-pager "$unit" >"$WORK/security.txt" 2>&1 ||
			die "systemd-analyze security: ${unit##*/} is exposed above 3.0: $(tail -n 1 "$WORK/security.txt")"
		log "systemd: ${unit##*/}: $(tail -n 1 "$WORK/security.txt")"
	done
	log "systemd: $(find deploy/systemd -name '*.service' | wc -l) units verify"
}

# check_upgrade_helper: deploy/systemd/weir-gateway-upgrade against a stand-in for systemd: a
# `systemctl` on PATH that reads the main pid from a file and signals it, and a notify socket
# that writes the MAINPID= it is sent to that file (what NotifyAccess=all lets systemd do). The
# helper must see the successor claim the unit and the old process exit, and the successor serve.
check_upgrade_helper() {
	local dir=$WORK/upgrade proxy admin old new
	mkdir -p "$dir/bin"
	proxy=$(free_port)
	admin=$(free_port)
	printf '[gateway]\nshutdown_grace = "2s"\n[listen]\nhttp = "127.0.0.1:%s"\n[admin]\nlisten = "127.0.0.1:%s"\n' \
		"$proxy" "$admin" >"$dir/gateway.toml"
	cat >"$dir/bin/systemctl" <<-'EOF'
		#!/usr/bin/env bash
		# Stand-in: `show --property=MainPID --value UNIT`, `kill --kill-whom=main --signal=SIG UNIT`.
		case $1 in
		show) cat "$WEIR_FAKE_MAINPID" ;;
		kill) signal=${3#--signal=} && kill -s "${signal#SIG}" "$(cat "$WEIR_FAKE_MAINPID")" ;;
		*) exit 1 ;;
		esac
	EOF
	chmod +x "$dir/bin/systemctl"
	python3 - "$dir/notify" "$dir/mainpid" <<-'EOF' &
		import os, socket, sys
		sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
		sock.bind(sys.argv[1])
		while True:
		    for line in sock.recv(4096).decode().splitlines():
		        if line.startswith("MAINPID="):
		            with open(sys.argv[2] + ".tmp", "w") as f:
		                f.write(line[len("MAINPID="):] + "\n")
		            os.rename(sys.argv[2] + ".tmp", sys.argv[2])
	EOF
	PIDS+=($!)
	for _ in {1..50}; do [[ -S $dir/notify ]] && break; sleep 0.1; done
	NOTIFY_SOCKET=$dir/notify "$BIN/weir-gateway" --config "$dir/gateway.toml" \
		--upgrade-socket "$dir/upgrade.sock" </dev/null >/dev/null 2>"$dir/gateway.log" &
	old=$!
	PIDS+=("$old")
	echo "$old" >"$dir/mainpid"
	wait_for "http://127.0.0.1:$admin/readyz" || die "upgrade helper: the gateway did not start: $(cat "$dir/gateway.log")"
	PATH=$dir/bin:$PATH WEIR_FAKE_MAINPID=$dir/mainpid WEIR_GATEWAY_BINARY=$BIN/weir-gateway \
		WEIR_GATEWAY_CONFIG=$dir/gateway.toml WEIR_UPGRADE_TIMEOUT=30 \
		deploy/systemd/weir-gateway-upgrade fake.service ||
		die "upgrade helper failed: $(cat "$dir/gateway.log")"
	new=$(cat "$dir/mainpid")
	PIDS+=("$new")
	if [[ $new == "$old" ]] || ! is_alive "$new" || is_alive "$old"; then
		die "upgrade helper: main pid $old -> $new: $(cat "$dir/gateway.log")"
	fi
	curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" || die "upgrade helper: the successor is not ready"
	curl -sS -o /dev/null "http://127.0.0.1:$proxy/" || die "upgrade helper: the successor does not serve"
	kill -TERM "$new"
	log "upgrade helper: pid $old handed over to pid $new through SIGUSR2, MAINPID= and the socket"
}

# ---------------------------------------------------------------- kubernetes

VENV=$TARGET/deploy-venv
KUBERNETES_VALIDATE=kubernetes-validate==1.37.0
KUBERNETES_VERSION=1.32.0

venv() {
	if [[ ! -x $VENV/bin/kubernetes-validate ]]; then
		log "installing $KUBERNETES_VALIDATE into $VENV (PyPI)"
		python3 -m venv "$VENV" ||
			die "cannot make a Python venv at $VENV (Debian: python3-venv)"
		"$VENV/bin/pip" install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE" ||
			die "cannot install $KUBERNETES_VALIDATE from PyPI: the manifests cannot be validated"
	fi
}

check_kubernetes() {
	command -v kubectl >/dev/null 2>&1 ||
		die "kubectl (with its built-in kustomize) is needed to render deploy/kubernetes"
	venv
	local overlay name rendered=()
	for overlay in deploy/kubernetes/base deploy/kubernetes/overlays/*/; do
		overlay=${overlay%/}
		name=${overlay##*/}
		kubectl kustomize "$overlay" >"$WORK/$name.yaml" || die "kubectl kustomize $overlay failed"
		# Strict: an unknown field is an error. ServiceMonitor has no schema here (a CRD):
		# check_deploy.py checks it.
		"$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$WORK/$name.yaml" \
			>"$WORK/$name.validate" 2>&1 || die "kubernetes-validate $overlay: $(cat "$WORK/$name.validate")"
		if grep -v "ServiceMonitor" "$WORK/$name.validate" | grep -q .; then
			die "kubernetes-validate $overlay: $(cat "$WORK/$name.validate")"
		fi
		rendered+=("$WORK/$name.yaml")
	done
	"$VENV/bin/python" scripts/check_deploy.py kubernetes --gateway-bin "$BIN/weir-gateway" "${rendered[@]}"
	log "kubernetes: ${#rendered[@]} renders validate against Kubernetes $KUBERNETES_VERSION"
}

# ---------------------------------------------------------------- prometheus

check_prometheus() {
	command -v promtool >/dev/null 2>&1 || die "promtool not found (Debian: prometheus)"
	promtool check rules deploy/prometheus/weir-alerts.yml
	(cd deploy/prometheus && promtool test rules weir-alerts.test.yml)
	venv
	"$VENV/bin/python" scripts/check_deploy.py metrics --rules deploy/prometheus/weir-alerts.yml \
		--dashboard deploy/grafana/weir-gateway.json gateway/src control-plane/src dns/src
}

# ---------------------------------------------------------------- container

# free_port: a loopback port nothing listens on, below the ephemeral range.
free_port() {
	local port
	for _ in {1..50}; do
		port=$((20000 + RANDOM % 12768))
		port_in_use "$port" || {
			echo "$port"
			return 0
		}
	done
	die "no free port"
}

# wait_for URL: up to 10 s for a 200.
wait_for() {
	for _ in {1..100}; do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# healthcheck_command FILE: the HEALTHCHECK's CMD array of a Containerfile, one word a line.
healthcheck_command() {
	python3 - "$1" <<-'EOF'
		import json, re, sys
		text = open(sys.argv[1]).read()
		match = re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])", text)
		if match:
		    print("\n".join(json.loads(match.group(1))))
	EOF
}

check_container() {
	local file
	for file in deploy/container/Containerfile deploy/container/Containerfile.scratch; do
		grep -q '^USER 65532:65532$' "$file" || die "$file: does not run as uid 65532"
		[[ $(healthcheck_command "$file") == *"/readyz"* ]] || die "$file: no HEALTHCHECK on /readyz"
	done
	[[ $(healthcheck_command deploy/container/Containerfile) == "$(healthcheck_command deploy/container/Containerfile.scratch)" ]] ||
		die "the two Containerfiles' HEALTHCHECK commands differ"
	local runtime
	for runtime in podman docker; do
		if command -v "$runtime" >/dev/null 2>&1; then
			if "$runtime" info >/dev/null 2>&1; then
				log "container: $runtime can run images here (not exercised: the base images cannot be pulled)"
			else
				log "container: $runtime is installed but cannot run containers here (no daemon or no privileges)"
			fi
		fi
	done
	local rootfs=$WORK/rootfs origin proxy admin
	deploy/container/build-rootfs.sh "$rootfs" "$BIN"
	origin=$(free_port)
	proxy=$(free_port)
	admin=$(free_port)
	"$BIN/weir-loadtest" origin --region us-east --listen "127.0.0.1:$origin" --name o1 \
		</dev/null >/dev/null 2>"$WORK/origin.log" &
	PIDS+=($!)
	cat >"$rootfs/etc/weir/test.toml" <<-EOF
		[gateway]
		region = "us-east"
		shutdown_grace = "2s"
		[upstreams.app]
		[[upstreams.app.pools]]
		region = "us-east"
		endpoints = ["127.0.0.1:$origin"]
		[[routes]]
		upstream = "app"
		[listen]
		http = "127.0.0.1:$proxy"
		[admin]
		listen = "127.0.0.1:$admin"
	EOF
	local -a run
	if ((EUID == 0)) && command -v chroot >/dev/null 2>&1; then
		run=(chroot --userspec=65532:65532 "$rootfs")
		log "container: running the image's rootfs under chroot as uid 65532"
	else
		local loader
		loader=$(cd "$rootfs" && find lib64 lib -name 'ld-linux*.so*' -print -quit)
		run=("$rootfs/$loader" --library-path "$rootfs/lib/x86_64-linux-gnu:$rootfs/lib64")
		log "container: not root: running the rootfs's binaries through its own loader and libraries"
	fi
	local config=/etc/weir/test.toml gateway
	[[ ${run[0]} == chroot ]] || config=$rootfs/etc/weir/test.toml
	"${run[@]}" /usr/local/bin/weir-gateway --config "$config" </dev/null >/dev/null 2>"$WORK/gateway.log" &
	gateway=$!
	PIDS+=("$gateway")
	wait_for "http://127.0.0.1:$origin/healthz" || die "container: the origin did not start: $(cat "$WORK/origin.log")"
	wait_for "http://127.0.0.1:$admin/readyz" || die "container: the gateway is not ready: $(cat "$WORK/gateway.log")"
	curl -fsS -o /dev/null "http://127.0.0.1:$proxy/" || die "container: no 2xx through the gateway"
	# The image's own HEALTHCHECK command (from Containerfile.scratch), on this test's admin port.
	local -a check
	mapfile -t check < <(healthcheck_command deploy/container/Containerfile.scratch)
	((${#check[@]})) || die "container: no HEALTHCHECK CMD in Containerfile.scratch"
	check=("${check[@]/127.0.0.1:9901/127.0.0.1:$admin}")
	"${run[@]}" "${check[@]}" >/dev/null || die "container: the HEALTHCHECK command fails: ${check[*]}"
	kill -TERM "$gateway"
	local status=0
	wait "$gateway" || status=$?
	((status == 0)) || die "container: SIGTERM: exit status $status: $(tail -n 5 "$WORK/gateway.log")"
	grep -q '"drained; exiting"' "$WORK/gateway.log" || die "container: no graceful drain in the log"
	log "container: the scratch rootfs serves, passes its health check and stops on SIGTERM with 0"
}

# The deploy scripts (test.sh's lint step covers scripts/ and deploy/local/).
shellcheck -x deploy/systemd/weir-gateway-upgrade deploy/container/*.sh
check_systemd
check_upgrade_helper
check_kubernetes
check_prometheus
check_container
log "deploy artefacts: all checks passed"
