#!/usr/bin/env bash
# test.sh: install what the build and tests need, then check formatting, lint, build and test
# the whole workspace. Stops at the first failing step, naming it, with a non-zero status.
#
# Works on a fresh Debian with only the Rust toolchain: missing build tools (cmake, which
# Pingora's build needs, and make, cc) are installed with apt-get (as root, or with sudo),
# missing rustfmt/clippy with rustup, and cargo-nextest with `cargo install`; if nextest cannot be
# installed the tests run with `cargo test` instead.
#
# Environment:
#   CARGO_TARGET_DIR   where cargo builds (default <repo>/target); honoured by every step
#   WEIR_TEST_RUNNER   nextest (default) or cargo-test: which test runner to use
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNNER=${WEIR_TEST_RUNNER:-nextest}

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'test.sh: error: %s\n' "$*" >&2
	exit 1
}

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

if ((${#missing_packages[@]})); then
	sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 ||
			die "missing ${missing_packages[*]}: run 'apt-get update && apt-get install -y ${missing_packages[*]}' as root, then $0 again"
		sudo=(sudo)
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "missing ${missing_packages[*]} and no apt-get: install them with your package manager, then run $0 again"
	log "missing: ${missing_packages[*]}"
	step "apt-get update" "${sudo[@]}" apt-get update -q
	step "install ${missing_packages[*]}" \
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_packages[@]}"
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

# ---------------------------------------------------------------- checks

step "format" cargo fmt --all -- --check
step "lint" cargo clippy --workspace --all-targets -- -D warnings
# The gateway's integration tests spawn target/debug/weir-loadtest: build the binaries first.
step "build binaries" cargo build --workspace --bins
if [[ $RUNNER == nextest ]]; then
	# nextest does not run doctests; run them first so the suite's summary closes the output.
	step "doctests" cargo test --workspace --doc
	step "test" cargo nextest run --workspace --no-fail-fast
else
	step "test" cargo test --workspace --no-fail-fast
fi

printf '\n==> all %d steps passed\n' "$STEP_COUNT" >&2
