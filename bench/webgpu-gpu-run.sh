#!/usr/bin/env bash
# The GPU run of docs/webgpu.md on a machine that fetches nothing: WebGPU decode benches (Node 24 and
# Dawn carried) and PyTorch SDPA on the same shapes, results under $OUT (run.log has all output).
# This script sits in a folder G beside: node24.xz (the npm node binary, xz), dawn.tar.xz
# (node_modules/webgpu's index.js, package.json, dist/linux-x64/dawn.node), debs/ (libvulkan1
# libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2), webgpu_torch_sdpa.py, dev_c_l2.safetensors
# and, each bundled by esbuild with --external:webgpu:
#   sweep-NAME.mjs  bench/webgpu-plan-sweep.ts of a build NAME → plan-sweep-NAME.json (SWEEP_ARGS)
#   bench-NAME.mjs  bench/webgpu-decode.ts of a build NAME → webgpu-decode-NAME.json (BENCH_ARGS,
#                   at most WEBGPU_SECONDS each; a run cut short keeps the rows it finished)
# Builds run in the order of their names (e.g. 1new, 2main); TORCH_ARGS go to the SDPA script.
set -u
G=$(cd "$(dirname "$0")" && pwd)
LOG="$OUT/run.log"
for f in "$G"/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
mkdir -p /tmp/g/b/node_modules
xz -dc "$G/node24.xz" > /tmp/g/node && chmod +x /tmp/g/node
tar -C /tmp/g/b/node_modules -xJf "$G/dawn.tar.xz"
nvidia-smi --query-gpu=name,driver_version,memory.used,utilization.gpu --format=csv 2>&1 | tee -a "$LOG"
cd /tmp/g/b
check='import("webgpu").then(async (m) => { const a = await m.create([]).requestAdapter(); console.log(a ? "ADAPTER " + a.info.description : "NONE"); process.exit(0); })'
if ! /tmp/g/node -e "$check" 2>&1 | tee -a "$LOG" | grep -q ADAPTER; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -e "$VK_DRIVER_FILES" ] || export VK_DRIVER_FILES=/usr/share/vulkan/icd.d/nvidia_icd.json
  /tmp/g/node -e "$check" 2>&1 | tee -a "$LOG"
fi
for s in "$G"/sweep-*.mjs; do
  [ -e "$s" ] || continue
  name=$(basename "$s" .mjs); cp "$s" /tmp/g/b/
  echo "== $name" | tee -a "$LOG"
  timeout 120 /tmp/g/node "$name.mjs" ${SWEEP_ARGS:-} --out "$OUT/plan-${name#sweep-}.json" 2>&1 | tee -a "$LOG"
done
for b in "$G"/bench-*.mjs; do
  [ -e "$b" ] || continue
  name=$(basename "$b" .mjs); cp "$b" /tmp/g/b/
  echo "== $name" | tee -a "$LOG"
  timeout "${WEBGPU_SECONDS:-330}" /tmp/g/node "$name.mjs" --dump "$G/dev_c_l2.safetensors" ${BENCH_ARGS:-} --out "$OUT/webgpu-decode-${name#bench-}.json" 2>&1 | tee -a "$LOG"
done
cd "$G/.."
echo "== torch" | tee -a "$LOG"
PYTHONUNBUFFERED=1 timeout "${TORCH_SECONDS:-100}" python3 "$G/webgpu_torch_sdpa.py" ${TORCH_ARGS:-} --out "$OUT/torch-sdpa.json" 2>&1 | tee -a "$LOG"
