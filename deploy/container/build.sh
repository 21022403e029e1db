#!/usr/bin/env bash
# build.sh [--scratch] [TAG]: build Weir's container image (default tag weir:dev) with podman,
# or docker when podman is not installed (WEIR_CONTAINER_RUNTIME overrides).
#
#   build.sh               the multi-stage Containerfile: builds the release binaries in a Rust
#                          image, runs them on distroless (pulls both base images)
#   build.sh --scratch     no registry: `cargo build --release --bins` here, then an image FROM
#                          scratch holding those binaries and their shared libraries
#                          (build-rootfs.sh, Containerfile.scratch)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
die() {
	printf 'build.sh: error: %s\n' "$*" >&2
	exit 1
}

scratch=false
if [[ ${1:-} == --scratch ]]; then
	scratch=true
	shift
fi
tag=${1:-weir:dev}

runtime=${WEIR_CONTAINER_RUNTIME:-}
if [[ -z $runtime ]]; then
	if command -v podman >/dev/null 2>&1; then
		runtime=podman
	elif command -v docker >/dev/null 2>&1; then
		runtime=docker
	else
		die "neither podman nor docker found (set WEIR_CONTAINER_RUNTIME)"
	fi
fi

if ! $scratch; then
	ignore=()
	[[ $runtime == podman ]] && ignore=(--ignorefile "$ROOT/deploy/container/Containerfile.dockerignore")
	exec "$runtime" build "${ignore[@]}" -f "$ROOT/deploy/container/Containerfile" -t "$tag" "$ROOT"
fi

(cd "$ROOT" && cargo build --release --locked --bins)
context=$(mktemp -d "${TMPDIR:-/tmp}/weir-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
"$ROOT/deploy/container/build-rootfs.sh" "$context/rootfs" "${CARGO_TARGET_DIR:-$ROOT/target}/release"
cp "$ROOT/deploy/container/Containerfile.scratch" "$context/Containerfile"
"$runtime" build -f "$context/Containerfile" -t "$tag" "$context"
