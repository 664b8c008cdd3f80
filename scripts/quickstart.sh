#!/usr/bin/env bash
# quickstart.sh — the README's first command: installs the Debian packages qcraft needs,
# builds it, and runs the main job on the bundled default model and data.
#
# The main job quantizes the bundled ResNet-20 with examples/mse_w4a8.yaml (4-bit weights
# with MSE ranges, 8-bit activations) and prints float vs quantized top-1 on the test set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)"
echo
echo "+ ptq run examples/mse_w4a8.yaml --out runs/quickstart --force"
cd "$root"
exec ./build/ptq run examples/mse_w4a8.yaml --out runs/quickstart --force
