#!/usr/bin/env bash
# build-rootfs.sh DIR [BINDIR]: assemble the root file system of Weir's registry-free image in DIR
# (emptied first): the binaries from BINDIR (default target/release) at /usr/local/bin, every
# shared library they load (as ldd resolves them here, at the same paths, with the dynamic
# loader), the host's CA certificates, /etc/passwd and /etc/group with the user and group 65532
# ("nonroot"), the default config at /etc/weir/gateway.toml and an empty /tmp. Nothing is pulled:
# `build.sh --scratch` turns DIR into an image FROM scratch, and `chroot DIR` runs it as is.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${1:?usage: build-rootfs.sh DIR [BINDIR]}
bindir=${2:-$ROOT/target/release}
binaries=(weir-gateway weir-control-plane weir-dns weirctl weir-loadtest)

die() {
	printf 'build-rootfs.sh: error: %s\n' "$*" >&2
	exit 1
}
command -v ldd >/dev/null 2>&1 || die "ldd not found (Debian: libc-bin)"
for bin in "${binaries[@]}"; do
	[[ -x $bindir/$bin ]] || die "$bindir/$bin not found: cargo build --release --bins first"
done

rm -rf "$dir"
mkdir -p "$dir/usr/local/bin" "$dir/etc/weir" "$dir/etc/ssl/certs" "$dir/tmp"
chmod 1777 "$dir/tmp"

# copy_lib PATH: PATH into DIR at the same place (symlinks resolved: the file under its name).
copy_lib() {
	mkdir -p "$dir$(dirname "$1")"
	cp -L "$1" "$dir$1"
}

declare -A seen=()
for bin in "${binaries[@]}"; do
	cp "$bindir/$bin" "$dir/usr/local/bin/$bin"
	# ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
	# "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
	while read -r lib; do
		[[ -n $lib && -z ${seen[$lib]:-} ]] || continue
		seen[$lib]=1
		copy_lib "$lib"
	done < <(ldd "$bindir/$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
done

if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
	cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
else
	printf 'build-rootfs.sh: no /etc/ssl/certs/ca-certificates.crt here: the image trusts no CA\n' >&2
fi
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$dir/etc/group"
cp "$ROOT/deploy/container/gateway.toml" "$dir/etc/weir/gateway.toml"
printf 'build-rootfs.sh: %s: %s binaries, %s libraries\n' "$dir" "${#binaries[@]}" "${#seen[@]}" >&2
