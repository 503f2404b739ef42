#!/usr/bin/env bash
# Fetch Debian's cloud kernel (linux-image-cloud-amd64's versioned image
# package) with apt, without installing it, and extract boot/vmlinuz-* into
# .cache/debian-cloud/ (override the cache root with HVTRACE_CACHE).
# Prints the path of the vmlinuz. Idempotent: nothing is downloaded when a
# vmlinuz is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${HVTRACE_CACHE:-$root/.cache}/debian-cloud"
mkdir -p "$cache"
log() { printf '[debian-cloud] %s\n' "$*" >&2; }

existing="$(ls "$cache"/vmlinuz-* 2>/dev/null | head -n1 || true)"
if [ -n "$existing" ]; then echo "$existing"; exit 0; fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
resolve() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1; }
pkg="$(resolve || true)"
if [ -z "$pkg" ]; then
  log "apt-get update"
  $SUDO apt-get update -qq
  pkg="$(resolve)"
fi
[ -n "$pkg" ] || { log "could not resolve the image package of linux-image-cloud-amd64"; exit 1; }
log "downloading $pkg"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg" >&2)
deb="$(ls "$tmp"/*.deb | head -n1)"
dpkg-deb -x "$deb" "$tmp/x"
src="$(ls "$tmp"/x/boot/vmlinuz-* | head -n1)"
cp "$src" "$cache/$(basename "$src").tmp"
mv "$cache/$(basename "$src").tmp" "$cache/$(basename "$src")"
log "$(basename "$src"): $(stat -c %s "$cache/$(basename "$src")") bytes"
echo "$cache/$(basename "$src")"
