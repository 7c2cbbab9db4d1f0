#!/usr/bin/env bash
# Sets the tracked safetensors (the bundled models, ~75 MiB, and the dev dumps) aside into the
# ignored folder .gpu-aside/ for a device call, whose travelling working tree must stay ≤ 64 MiB
# (ignored files do not travel; the queue's dumps travel in .gpu/data), and puts them back.
# Usage: bash bench/webgpu-gpu-aside.sh out | in
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  out)
    [ ! -e .gpu-aside ] || { echo "webgpu-gpu-aside: .gpu-aside/ exists: put it back first (in)" >&2; exit 2; }
    git ls-files -z '*.safetensors' | while IFS= read -r -d '' f; do
      mkdir -p ".gpu-aside/$(dirname "$f")" && mv "$f" ".gpu-aside/$f"
    done
    # du over every travelling file at once (files set aside are still listed: du skips them).
    travel=$( { { git ls-files -z; git ls-files -z --others --exclude-standard; } | du -cb --files0-from=- 2>/dev/null || true; } | tail -1 | cut -f1)
    carried=$(du -sb .gpu 2>/dev/null | cut -f1)
    total=$(( travel + ${carried:-0} ))
    echo "travelling: $((travel / 1048576)) MiB of the tree + $(( ${carried:-0} / 1048576 )) MiB of .gpu = $((total / 1048576)) MiB (limit 64)"
    (( total <= 64 * 1048576 )) || { echo "webgpu-gpu-aside: over 64 MiB: queue fewer dumps" >&2; exit 1; } ;;
  in)
    [ -d .gpu-aside ] || { echo "webgpu-gpu-aside: nothing set aside" >&2; exit 2; }
    (cd .gpu-aside && find . -type f -print0) | while IFS= read -r -d '' f; do mv ".gpu-aside/$f" "$f"; done
    rm -rf .gpu-aside
    git status --short -- '*.safetensors' ;;
  *) echo "webgpu-gpu-aside: expected 'out' or 'in', got '${1:-}'" >&2; exit 2 ;;
esac
