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
