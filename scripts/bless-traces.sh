#!/usr/bin/env bash
# Re-record the golden traces in traces/ (see traces/README.md). Run after
# `npm run build`, only for an intended change of machine behaviour.
set -euo pipefail
cd "$(dirname "$0")/../traces"
for g in hello cpuid longmode; do
  node ../dist/cli/main.js record "../guests/$g.elf" --mem 16 -o "$g.hvt" --quiet
done
# The Linux boot (guests/linux/build.sh builds the kernel and disk into .cache/linux).
bash ../guests/linux/build.sh
node ../dist/cli/main.js record --kernel ../.cache/linux/vmlinux --disk ../.cache/linux/disk.img --mem 128 \
  --append "console=ttyS0 root=/dev/vda rw" --max-instructions 3000000000 -o linux-boot.hvt --quiet
