#!/usr/bin/env bash
# install.sh — `cmake --install` into a temporary prefix gives a working ptq and the SDK
# headers a plugin author compiles against.
BUILD=${3:?usage: $0 PTQ SRC BUILD_DIR}
. "$(dirname "$0")/lib.sh"
prefix=$TMP/prefix
if cmake --install "$BUILD" --prefix "$prefix" >"$TMP/install.log" 2>&1; then ok "cmake --install"; else bad "cmake --install: $(tail -5 "$TMP/install.log")"; fi
for f in bin/ptq include/ptq/ptq_types.h include/ptq/ptq.h; do
    if [ -e "$prefix/$f" ]; then ok "installed $f"; else bad "missing $prefix/$f"; fi
done
if "$prefix/bin/ptq" --version | grep -q "^ptq "; then ok "installed ptq runs"; else bad "installed ptq does not run"; fi
# Relocatable: the installed tree, moved elsewhere, still finds its own plugins (relative
# to the executable), and nothing points back at the build tree: no build path compiled
# into the binary, none searched.
moved=$TMP/moved
mv "$prefix" "$moved"
if grep -qF "$BUILD/plugins" "$moved/bin/ptq"; then bad "the installed ptq embeds the build tree's plugin directory $BUILD/plugins"; else ok "no build-tree path in the installed binary"; fi
out=$(env -u PTQ_PLUGIN_PATH "$moved/bin/ptq" plugins 2>&1)
searched=$(echo "$out" | sed -n 's/^searched: //p')
if echo "$out" | grep -q "^dfq " && echo "$out" | grep -q "^adaround " && echo "$searched" | grep -qF "$moved/"; then
    ok "the moved install loads its plugins from $searched"
else
    bad "the moved install does not find its plugins: $out"
fi
case "$searched" in *"$BUILD"*) bad "the installed ptq searches the build tree: $searched" ;; *) ok "the build tree is not searched" ;; esac
cat > "$TMP/dfq.yaml" <<YAML
model: $SRC/models/resnet20_fmnist.onnx
quantization:
  weights: {bits: 8}
  activations: {bits: 32}
passes:
  - dfq.equalize: {}
YAML
if out=$(cd "$TMP" && env -u PTQ_PLUGIN_PATH "$moved/bin/ptq" run "$TMP/dfq.yaml" --dry-run 2>&1) && echo "$out" | grep -q "dfq.equalize"; then
    ok "the moved install validates a pipeline that uses a plugin"
else
    bad "the moved install cannot use its plugin: $out"
fi
prefix=$moved
cat > "$TMP/use_sdk.c" <<'C'
#include <ptq/ptq_types.h>
int main(void) { ptq_version v = PTQ_VERSION_INIT; return v.major == PTQ_VERSION_MAJOR ? 0 : 1; }
C
if cc -std=c11 -Wall -Wextra -pedantic -Werror -I"$prefix/include" "$TMP/use_sdk.c" -o "$TMP/use_sdk" && "$TMP/use_sdk"; then
    ok "a program builds against the installed SDK headers"
else
    bad "cannot build against the installed SDK headers"
fi
finish
