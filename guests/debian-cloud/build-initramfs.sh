#!/usr/bin/env bash
# Build an initramfs of our own for the Debian cloud kernel: the static,
# libc-free /init of guests/linux/init.c (prints a banner, powers off),
# compiled as guests/linux/build.sh compiles /sbin/init, in a newc cpio at
# .cache/debian-cloud/initramfs.cpio (override the cache root with
# HVTRACE_CACHE). Reproducible: fixed mtimes and owners, sorted names.
# Prints the path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${HVTRACE_CACHE:-$root/.cache}/debian-cloud"
out="$cache/initramfs.cpio"
mkdir -p "$cache"
src="$root/guests/linux/init.c"
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$here/build-initramfs.sh" ]; then echo "$out"; exit 0; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp" 2>/dev/null || sudo rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys"
gcc -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie -O2 -Wl,--build-id=none \
  -o "$tmp/root/init" "$src"
# /init's stdout is the console only if /dev/console exists in the initramfs
# (devtmpfs is not mounted on the initramfs root).
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO mknod -m 600 "$tmp/root/dev/console" c 5 1
find "$tmp/root" -exec touch -h -d @1767225600 {} +
repro=""; cpio --help 2>&1 | grep -q -- --reproducible && repro="--reproducible"
(cd "$tmp/root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 $repro --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
printf '[debian-cloud] initramfs: %s bytes\n' "$(stat -c %s "$out")" >&2
echo "$out"
