#!/usr/bin/env bash
# quickstart.sh — the README's first command: installs the Debian packages qcraft needs,
# builds it, and runs the main job on the bundled default model and data.
#
# Until quantization pipelines exist, the main job evaluates the bundled ResNet-20 on
# the 10,000 Fashion-MNIST test images and prints its top-1 accuracy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)"
data=/usr/share/datasets/fashion-mnist
echo
echo "+ ptq eval models/resnet20_fmnist.onnx --images $data/t10k-images-idx3-ubyte.gz --labels $data/t10k-labels-idx1-ubyte.gz"
cd "$root"
exec ./build/ptq eval models/resnet20_fmnist.onnx \
    --images "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz"
