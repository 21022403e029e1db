#!/usr/bin/env bash
# test.sh: install what the build and tests need, then check formatting, lint, build and test
# the whole workspace. Stops at the first failing step, naming it, with a non-zero status.
#
# Works on a fresh Debian with only the Rust toolchain: missing build tools (cmake, which
# Pingora's build needs, and make, cc), redis-server (for the tests of global rate limits) and dig
# (dnsutils, for the weir-dns tests) are installed with apt-get (as root, or with sudo), missing
# rustfmt/clippy with rustup, and cargo-nextest with `cargo install`; if nextest cannot be
# installed the tests run with `cargo test` instead. The tests get a private redis-server on a
# free loopback port, stopped when this script exits, however it exits.
#
# Environment:
#   CARGO_TARGET_DIR        where cargo builds (default <repo>/target); honoured by every step
#   WEIR_TEST_RUNNER        nextest (default) or cargo-test: which test runner to use
#   WEIR_TEST_REDIS_URL     a Redis for the tests to share (redis://host:port); when set, no
#                           private server is started
#   WEIR_TEST_REDIS_SERVER  the redis-server binary tests start for themselves (default: PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNNER=${WEIR_TEST_RUNNER:-nextest}
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

case $RUNNER in
nextest | cargo-test) ;;
*) die "WEIR_TEST_RUNNER must be nextest or cargo-test, got '$RUNNER'" ;;
esac

# step NAME COMMAND...: print the step, run it, stop the script if it fails.
STEP_COUNT=0
step() {
	local name=$1 start=$SECONDS status=0
	shift
	STEP_COUNT=$((STEP_COUNT + 1))
	printf '\n==> step %d: %s\n==> $ %s\n' "$STEP_COUNT" "$name" "$*" >&2
	"$@" || status=$?
	if ((status != 0)); then
		printf '\ntest.sh: FAILED at step %d (%s), exit status %d after %ds: %s\n' \
			"$STEP_COUNT" "$name" "$status" "$((SECONDS - start))" "$*" >&2
		exit "$status"
	fi
	log "step $STEP_COUNT ($name) passed in $((SECONDS - start))s"
}

# ---------------------------------------------------------------- system packages

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (https://rustup.rs) and put it on PATH"

# Command → Debian package, for the tools the build needs beyond the Rust toolchain.
missing_packages=()
command -v cmake >/dev/null 2>&1 || missing_packages+=(cmake) # Pingora's build (libz-ng-sys)
command -v make >/dev/null 2>&1 || missing_packages+=(make)   # cmake's default generator
command -v cc >/dev/null 2>&1 || missing_packages+=(gcc libc6-dev)
command -v redis-server >/dev/null 2>&1 || missing_packages+=(redis-server) # global rate-limit tests
command -v protoc >/dev/null 2>&1 || missing_packages+=(protobuf-compiler)   # etcd-client's build (the control plane's etcd store)
command -v etcd >/dev/null 2>&1 || missing_packages+=(etcd-server)           # the control plane's etcd store tests
command -v shellcheck >/dev/null 2>&1 || missing_packages+=(shellcheck)     # the scripts' lint
command -v dig >/dev/null 2>&1 || missing_packages+=(dnsutils)              # weir-dns tests
command -v curl >/dev/null 2>&1 || missing_packages+=(curl)                  # edge TLS tests
command -v openssl >/dev/null 2>&1 || missing_packages+=(openssl)            # edge TLS tests (s_client)
command -v h2load >/dev/null 2>&1 || missing_packages+=(nghttp2-client)      # HTTP/2 load test
command -v pebble >/dev/null 2>&1 || missing_packages+=(pebble)               # ACME tests (pebble, pebble-challtestsrv)
command -v promtool >/dev/null 2>&1 || missing_packages+=(prometheus)         # deploy: alert rules (promtool)
command -v systemd-analyze >/dev/null 2>&1 || missing_packages+=(systemd)      # deploy: the units verify
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing_packages+=(python3-venv) # deploy: kubernetes-validate's venv

if ((${#missing_packages[@]})); then
	step "install ${missing_packages[*]}" apt_install "the build and the tests need them" "${missing_packages[@]}"
fi

# ---------------------------------------------------------------- Rust tools

missing_components=()
cargo fmt --version >/dev/null 2>&1 || missing_components+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || missing_components+=(clippy)
if ((${#missing_components[@]})); then
	command -v rustup >/dev/null 2>&1 ||
		die "cargo ${missing_components[*]} not found and no rustup to add them: install the ${missing_components[*]} component(s)"
	step "add ${missing_components[*]}" rustup component add "${missing_components[@]}"
fi

if [[ $RUNNER == nextest ]] && ! cargo nextest --version >/dev/null 2>&1; then
	log "cargo-nextest not found: installing it (cargo install cargo-nextest --locked; a few minutes)"
	if cargo install cargo-nextest --locked && cargo nextest --version >/dev/null 2>&1; then
		log "cargo-nextest installed"
	else
		log "cargo-nextest could not be installed; running the tests with cargo test instead"
		RUNNER=cargo-test
	fi
fi

log "rustc: $(rustc --version); target dir: ${CARGO_TARGET_DIR:-$ROOT/target}; test runner: $RUNNER"

# ---------------------------------------------------------------- Redis for the tests

# Ports are drawn below Linux's ephemeral range (32768 and up), so no outgoing connection holds
# one. The server is this shell's background job; the EXIT trap stops it by its pid.
REDIS_PID=
REDIS_DIR=
stop_test_redis() {
	if [[ -n $REDIS_PID ]]; then
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
		REDIS_PID=
	fi
	if [[ -n $REDIS_DIR ]]; then
		rm -rf "$REDIS_DIR"
		REDIS_DIR=
	fi
}
trap stop_test_redis EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_test_redis: a private redis-server on a free port; exports WEIR_TEST_REDIS_URL.
start_test_redis() {
	REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-test-redis.XXXXXX")
	if start_private_redis "$WEIR_TEST_REDIS_SERVER" "$REDIS_DIR" "$REDIS_DIR/redis.log"; then
		export WEIR_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
		log "redis-server (pid $REDIS_PID) answers on 127.0.0.1:$REDIS_PORT"
		return 0
	fi
	REDIS_PID=
	printf 'test.sh: %s did not start on any of 20 ports\n' "$WEIR_TEST_REDIS_SERVER" >&2
	if [[ -s $REDIS_DIR/redis.log ]]; then
		printf 'its log ends:\n' >&2
		tail -n 5 "$REDIS_DIR/redis.log" >&2
	fi
	return 1
}

if [[ -z ${WEIR_TEST_REDIS_SERVER:-} ]]; then
	WEIR_TEST_REDIS_SERVER=$(command -v redis-server) ||
		die "redis-server not found: install it (apt-get install redis-server) or set WEIR_TEST_REDIS_SERVER"
fi
export WEIR_TEST_REDIS_SERVER

# ---------------------------------------------------------------- checks

step "format" cargo fmt --all -- --check
step "lint" cargo clippy --workspace --all-targets -- -D warnings
# Broken doc links and malformed doc comments fail here, not when someone reads the docs.
step "docs" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
step "lint scripts" shellcheck -x scripts/*.sh deploy/local/*.sh loadtest/bench/*.sh
# The gateway's integration tests spawn target/debug/weir-loadtest: build the binaries first.
step "build binaries" cargo build --workspace --bins
# systemd units, Kubernetes manifests, alert rules and dashboard, the registry-free image's rootfs.
step "deploy artefacts" scripts/test-deploy.sh
if [[ -n ${WEIR_TEST_REDIS_URL:-} ]]; then
	log "tests use the Redis at WEIR_TEST_REDIS_URL=$WEIR_TEST_REDIS_URL"
else
	step "start redis-server" start_test_redis
fi
if [[ $RUNNER == nextest ]]; then
	# nextest does not run doctests; run them first so the suite's summary closes the output.
	step "doctests" cargo test --workspace --doc
	step "test" cargo nextest run --workspace --no-fail-fast
else
	step "test" cargo test --workspace --no-fail-fast
fi

printf '\n==> all %d steps passed\n' "$STEP_COUNT" >&2
