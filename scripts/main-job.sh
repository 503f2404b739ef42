#!/usr/bin/env bash
# The main job: build the default Linux guest if missing (guests/linux/build.sh:
# Debian's linux-source-6.1, tinyconfig + PVH, and an ext2 disk with our
# /sbin/init), record its boot, replay the trace bit-exactly, and summarize.
#   bash scripts/main-job.sh                 # the Linux guest
#   bash scripts/main-job.sh guests/X.elf    # a test guest instead
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/main.js ] || npx tsc -p . || exit 1
out="${HVTRACE_OUT:-.cache/main-job}"
mkdir -p "$out"
trace="$out/boot.hvt"
if [ $# -gt 0 ]; then
  args=("$1" --mem 16)
else
  if [ ! -f .cache/linux/vmlinux ] || [ ! -f .cache/linux/disk.img ]; then
    echo "== building the Linux guest (first run only; a few minutes)"
    bash guests/linux/build.sh || exit 1
  fi
  args=(--kernel .cache/linux/vmlinux --disk .cache/linux/disk.img --mem 128
        --append "console=ttyS0 root=/dev/vda rw" --max-instructions "${HVTRACE_BUDGET:-3000000000}")
fi
echo "== record -> $trace"
start=$(date +%s.%N)
node dist/cli/main.js record "${args[@]}" -o "$trace"
rec_status=$?
mid=$(date +%s.%N)
echo "== replay $trace"
node dist/cli/main.js replay "$trace"
rep_status=$?
end=$(date +%s.%N)
echo "== summary"
node dist/cli/main.js inspect "$trace" | sed -n '/^summary:/,/^events by kind/p;/^exits by reason/,$p'
printf 'trace: %s (%s bytes); record %.1f s (status %d), replay %.1f s (status %d)\n' \
  "$trace" "$(stat -c %s "$trace")" "$(echo "$mid - $start" | bc)" "$rec_status" "$(echo "$end - $mid" | bc)" "$rep_status"
exit "$rep_status"
