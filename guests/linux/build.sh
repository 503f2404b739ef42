#!/usr/bin/env bash
# Build the default Linux guest of hvtrace:
#  - a tinyconfig Linux 6.1 kernel from Debian's linux-source-6.1 with
#    guests/linux/config.fragment (64-bit, PVH, serial console, PCI,
#    legacy virtio-blk, ext2, initrd, printk) -> vmlinux (ELF with the PVH note)
#  - a static /sbin/init of our own (init.c, no libc) and an ext2 disk image
#    holding it -> disk.img
# Results are cached outside git in .cache/linux/ (override with HVTRACE_CACHE);
# nothing is rebuilt when the outputs are newer than their inputs.
# Installs its build dependencies from Debian's packages when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${HVTRACE_CACHE:-$root/.cache}/linux"
mkdir -p "$cache"
log() { printf '[linux-guest] %s\n' "$*" >&2; }

need=()
for p in linux-source-6.1 flex bison bc libelf-dev libssl-dev gcc make e2fsprogs xz-utils cpio; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

src_tar="$(ls /usr/src/linux-source-6.1*.tar.xz | head -n1)"
ksrc="$cache/src"
kout="$cache/vmlinux"
if [ ! -f "$kout" ] || [ "$here/config.fragment" -nt "$kout" ] || [ "$src_tar" -nt "$kout" ]; then
  if [ ! -d "$ksrc" ]; then
    log "unpacking $(basename "$src_tar")"
    mkdir -p "$ksrc.tmp"
    tar -xf "$src_tar" -C "$ksrc.tmp" --strip-components=1
    mv "$ksrc.tmp" "$ksrc"
  fi
  log "configuring (tinyconfig + config.fragment)"
  make -C "$ksrc" -s ARCH=x86_64 tinyconfig
  KCONFIG_CONFIG="$ksrc/.config" "$ksrc/scripts/kconfig/merge_config.sh" -m -O "$ksrc" "$ksrc/.config" "$here/config.fragment" >/dev/null
  make -C "$ksrc" -s ARCH=x86_64 olddefconfig
  for opt in PVH SERIAL_8250_CONSOLE VIRTIO_BLK VIRTIO_PCI_LEGACY EXT2_FS BLK_DEV_INITRD PCI; do
    grep -q "^CONFIG_$opt=y" "$ksrc/.config" || { log "CONFIG_$opt did not survive olddefconfig"; exit 1; }
  done
  log "building vmlinux with $(nproc) jobs (a few minutes)"
  # Reproducible-build knobs: fixed build identity and timestamp.
  KBUILD_BUILD_USER=hvtrace KBUILD_BUILD_HOST=hvtrace KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026' \
    make -C "$ksrc" -s ARCH=x86_64 -j"$(nproc)" vmlinux
  cp "$ksrc/vmlinux" "$kout.tmp" && mv "$kout.tmp" "$kout"
  log "vmlinux: $(stat -c %s "$kout") bytes"
fi

dout="$cache/disk.img"
if [ ! -f "$dout" ] || [ "$here/init.c" -nt "$dout" ] || [ "$here/build.sh" -nt "$dout" ]; then
  log "building /sbin/init and the ext2 disk image"
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/root/sbin" "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys"
  gcc -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie -O2 -Wl,--build-id=none \
    -o "$tmp/root/sbin/init" "$here/init.c"
  # 4 MiB ext2 image; fixed UUID, hash seed and timestamps (file times included) for reproducibility.
  find "$tmp/root" -exec touch -h -d @1767225600 {} +
  E2FSPROGS_FAKE_TIME=1767225600 mke2fs -q -t ext2 -b 1024 -U 0fe1d00d-0000-4000-8000-000000000001 \
    -E hash_seed=0fe1d00d-0000-4000-8000-000000000002 -d "$tmp/root" "$dout.tmp" 4M
  # mke2fs copies each file's ctime, which touch cannot set: pin it (and the others) with debugfs.
  for f in / /lost+found /sbin /sbin/init /dev /proc /sys; do
    for field in atime mtime ctime; do echo "sif $f $field 20260101000000"; done
  done | debugfs -w -f - "$dout.tmp" >/dev/null 2>&1
  mv "$dout.tmp" "$dout"
  rm -rf "$tmp"
fi
log "ready: $kout $dout"
