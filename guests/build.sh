#!/usr/bin/env bash
# Builds the hvtrace test guests (guests/<name>.elf) from guests/<name>.S with
# GNU as + ld and guests/guest.ld. The images are committed, so tests do not
# need binutils; rerun this after editing a guest.
#
# Reproducible: no debug info, no build-id, no .comment, relative file names
# only, fixed locale; two runs give identical bytes (`bash guests/build.sh --check`
# builds twice and compares).
set -euo pipefail
export LC_ALL=C TZ=UTC
cd "$(dirname "$0")"

GUESTS=(hello longmode cpuid bench-alu bench-memcpy bench-syscall sse multiboot kut-pass kut-fail kut-devices)
# ELF32 multiboot guests (guest32.ld, multiboot.inc) instead of ELF64 PVH ones.
ELF32_GUESTS=" multiboot kut-pass kut-fail kut-devices "

need_binutils() {
  command -v as >/dev/null 2>&1 && command -v ld >/dev/null 2>&1
}
if ! need_binutils; then
  echo "build.sh: as/ld not found, installing binutils" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  $SUDO apt-get install -y binutils
fi

# build <outdir>: assemble and link every guest into <outdir>/<name>.elf
build() {
  local out="$1"
  local obj
  obj="$(mktemp -d)"
  for g in "${GUESTS[@]}"; do
    local bits=64 emul=elf_x86_64 script=guest.ld
    if [[ "$ELF32_GUESTS" == *" $g "* ]]; then bits=32 emul=elf_i386 script=guest32.ld; fi
    as --$bits -mx86-used-note=no -o "$obj/$g.o" "$g.S"
    ld -m $emul -static -nostdlib --build-id=none -z noexecstack \
       -z max-page-size=0x1000 -z norelro \
       -T $script -o "$out/$g.elf" "$obj/$g.o"
  done
  rm -rf "$obj"
}

build .
for g in "${GUESTS[@]}"; do
  echo "built guests/$g.elf ($(wc -c < "$g.elf") bytes)"
done

if [ "${1:-}" = "--check" ]; then
  tmp="$(mktemp -d)"
  build "$tmp"
  for g in "${GUESTS[@]}"; do
    cmp "$g.elf" "$tmp/$g.elf"
  done
  rm -rf "$tmp"
  echo "reproducible: second build is byte-identical"
fi
