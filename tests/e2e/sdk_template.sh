#!/usr/bin/env bash
# sdk_template.sh — a third party's view: install qcraft to a prefix, build the template
# plugin out of tree against it (CMake package and pkg-config), load it through
# PTQ_PLUGIN_PATH, and run it from a YAML pipeline with the installed ptq.
BUILD=${3:?usage: $0 PTQ SRC BUILD_DIR}
. "$(dirname "$0")/lib.sh"
prefix=$TMP/prefix
if cmake --install "$BUILD" --prefix "$prefix" >"$TMP/install.log" 2>&1; then
    ok "installed to a temporary prefix"
else
    bad "cmake --install failed: $(tail -5 "$TMP/install.log")"
    finish
    exit 1
fi
for f in include/ptq/ptq_plugin.h include/ptq/ptq_types.h lib/cmake/qcraft/qcraftConfig.cmake \
         lib/pkgconfig/ptq-sdk.pc share/qcraft/template/template.c; do
    [ -e "$prefix/$f" ] && ok "installed $f" || bad "missing $prefix/$f"
done

# Out of tree with CMake, from the installed copy of the template.
cp -r "$prefix/share/qcraft/template" "$TMP/mine"
if cmake -S "$TMP/mine" -B "$TMP/mine/build" -DCMAKE_PREFIX_PATH="$prefix" >"$TMP/cfg.log" 2>&1 &&
   cmake --build "$TMP/mine/build" >"$TMP/build.log" 2>&1 && [ -f "$TMP/mine/build/template.so" ]; then
    ok "template plugin built out of tree with find_package(qcraft)"
else
    bad "out-of-tree CMake build failed: $(tail -8 "$TMP/cfg.log" "$TMP/build.log")"
fi

# The package version is the SDK version: a plugin can require the SDK it needs.
ver=$(sed -n 's/^#define PTQ_VERSION_MINOR \([0-9]*\)/\1/p' "$prefix/include/ptq/ptq_types.h")
for want in "0.$ver ok" "0.$((ver + 1)) refused"; do
    set -- $want
    mkdir -p "$TMP/need$1"
    printf 'cmake_minimum_required(VERSION 3.20)\nproject(n LANGUAGES C)\nfind_package(qcraft %s REQUIRED)\n' "$1" > "$TMP/need$1/CMakeLists.txt"
    if cmake -S "$TMP/need$1" -B "$TMP/need$1/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then got=ok; else got=refused; fi
    [ "$got" = "$2" ] && ok "find_package(qcraft $1): $got" || bad "find_package(qcraft $1): $got, expected $2"
done

# And with pkg-config only.
if PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -shared -fPIC -std=c11 -Wall -Wextra -Werror -Wl,-z,defs \
       $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags ptq-sdk) \
       "$prefix/share/qcraft/template/template.c" -o "$TMP/pc_template.so" -lm 2>"$TMP/pc.log"; then
    ok "template plugin built with pkg-config --cflags ptq-sdk"
else
    bad "pkg-config build failed: $(cat "$TMP/pc.log")"
fi

# The installed ptq finds it through PTQ_PLUGIN_PATH and lists its table.
out=$(PTQ_PLUGIN_PATH="$TMP/mine/build" "$prefix/bin/ptq" plugins template 2>&1)
if echo "$out" | grep -q "template.weight_stats" && echo "$out" | grep -q "clip" && echo "$out" | grep -q "float"; then
    ok "ptq plugins template lists the pass and its parameters"
else
    bad "ptq plugins template: $out"
fi

# And runs it from a pipeline.
cat > "$TMP/with_template.yaml" <<YAML
model: $SRC/models/resnet20_fmnist.onnx
calibration: {images: $DATA/train-images-idx3-ubyte.gz, count: 64}
evaluation: {images: $DATA/t10k-images-idx3-ubyte.gz, labels: $DATA/t10k-labels-idx1-ubyte.gz, count: 200}
passes:
  - template.weight_stats: {top: 2, clip: 6}
YAML
if out=$(PTQ_PLUGIN_PATH="$TMP/mine/build" "$prefix/bin/ptq" run "$TMP/with_template.yaml" --out "$TMP/run" 2>&1) &&
   grep -q '"name": "template.weight_stats"' "$TMP/run/report.json" && echo "$out" | grep -q "widest weight range"; then
    ok "the out-of-tree plugin ran from a YAML pipeline"
else
    bad "pipeline with the template plugin: $out"
fi

# A pipeline naming the plugin fails clearly when it is not on the path.
expect_error "plugin not on the path" "template" -- "$prefix/bin/ptq" run "$TMP/with_template.yaml" --dry-run
finish
