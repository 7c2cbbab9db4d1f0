#!/usr/bin/env bash
# Runs, on a GPU machine that fetches nothing, the queue that bench/webgpu-gpu-prepare.sh put in
# this script's folder G: unpacks Node 24, Dawn and the Vulkan loader, checks that Dawn sees the GPU
# (else points Vulkan at the NVIDIA ICD), then runs the entries in order, each under its own limit
# and none started past TOTAL seconds (default 540: a device call's 600 s less the unpacking). Each
# entry writes NAME.json; everything lands in $OUT as run.log (all output, one `== ` line per entry
# with its exit code and clock time) and results.tgz (the JSON files: a call brings back at most
# 8 files). The queue is cut into device calls by `call N` lines: CALL=N (default 1) runs the
# entries of call N. The GPU's clocks, power and throttle reasons are logged every 100 ms into
# clocks.csv (in results.tgz): a row that ran slow in every pass is told from one whose kernel is
# slow by the SM clock it ran at. SKIP_DEBS=1 skips the .debs (a machine that has its Vulkan
# loader); PER caps every entry's limit.
# On the device machine: CALL=1 bash G/webgpu-gpu-run.sh > $OUT/stdout.txt 2>&1
set -u
G=$(cd "$(dirname "$0")" && pwd)
: "${OUT:?webgpu-gpu-run: expected OUT, the folder results go to}"
LOG="$OUT/run.log" W=/tmp/webgpu-gpu-run
start=$(date +%s)
stamp() { echo "$* $(date -u +%H:%M:%S)" | tee -a "$LOG"; }
[ "${SKIP_DEBS:-0}" = 1 ] || { for f in "$G"/debs/*.deb; do dpkg -x "$f" /; done; ldconfig; }
rm -rf "$W" && mkdir -p "$W/b/node_modules" "$W/results"
xz -dc "$G/node24.xz" > "$W/node" && chmod +x "$W/node"
tar -C "$W/b/node_modules" -xJf "$G/dawn.tar.xz"
ln -s "$G/data" "$W/b/data"
cp "$G"/*.mjs "$G"/*.py "$W/b/" 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,memory.used,utilization.gpu --format=csv 2>&1 | tee -a "$LOG"
# nvidia-smi's name for the throttle reasons changed (clocks_event_reasons since driver 535).
for reasons in clocks_event_reasons.active clocks_throttle_reasons.active; do
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,pstate,power.draw,temperature.gpu,$reasons --format=csv -lms 100 > "$W/results/clocks.csv" 2>&1 &
  clocks=$!; sleep 1; kill -0 "$clocks" 2>/dev/null && break
done
cd "$W/b"
check='import("webgpu").then(async (m) => { const a = await m.create([]).requestAdapter(); console.log(a ? "ADAPTER " + a.info.description : "NONE"); process.exit(0); })'
if ! "$W/node" -e "$check" 2>&1 | tee -a "$LOG" | grep -q ADAPTER; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -e "$VK_DRIVER_FILES" ] || export VK_DRIVER_FILES=/usr/share/vulkan/icd.d/nvidia_icd.json
  "$W/node" -e "$check" 2>&1 | tee -a "$LOG"
fi
call=1
while read -r name limit file args; do
  if [ "$name" = call ]; then call=$limit; continue; fi
  [ "$call" = "${CALL:-1}" ] || continue
  left=$(( ${TOTAL:-540} - ($(date +%s) - start) ))
  (( limit > ${PER:-600} )) && limit=${PER:-600}
  if (( left < 10 )); then stamp "== $name skipped: TOTAL spent"; continue; fi
  (( limit > left )) && limit=$left
  stamp "== $name $file $args (limit ${limit}s)"
  case "$file" in
    *.py) PYTHONUNBUFFERED=1 timeout "$limit" python3 "$file" $args --out "$W/results/$name.json" < /dev/null >> "$LOG" 2>&1 ;;
    *) timeout "$limit" "$W/node" "$file" $args --out "$W/results/$name.json" < /dev/null >> "$LOG" 2>&1 ;;
  esac
  stamp "== $name rc $?"
done < "$G/queue.txt"
kill "$clocks" 2>/dev/null
tar -C "$W/results" -czf "$OUT/results.tgz" .
