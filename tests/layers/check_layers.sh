#!/usr/bin/env bash
# check_layers.sh — the core's layers include only downwards.  A file in core/src/<layer>/
# may include "internal.h", the public and SDK headers, its own layer's headers and those of
# the layers below it, never one above (docs/STATUS.md, "Layers").  Prints every violation.
set -euo pipefail
src=${1:?usage: check_layers.sh CORE_SRC_DIR}
layers=(ir onnx data exec quant train plugin pipeline ab)
rank() { local i; for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
for dir in "$src"/*/; do
    layer=$(basename "$dir")
    r=$(rank "$layer")
    [ "$r" -ge 0 ] || { echo "core/src/$layer/: not a known layer (add it to ${layers[*]})"; bad=1; continue; }
    while IFS= read -r hit; do
        file=${hit%%:*}
        inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$hit")
        case $inc in */*) ;; *) continue ;; esac      # same folder or internal.h
        target=${inc%%/*}
        [ "$target" = ptq ] && continue                 # public and SDK headers
        [ "$target" = exec ] && [ "$layer" = exec ] && continue
        tr=$(rank "$target")
        if [ "$tr" -lt 0 ] || [ "$tr" -gt "$r" ]; then
            echo "${file#"$src"/}: includes \"$inc\": layer '$target' is above '$layer'"
            bad=1
        fi
    done < <(grep -rHn '#include "' "$dir" || true)
done
[ "$bad" = 0 ] && echo "layers ok: ${layers[*]}"
exit "$bad"
