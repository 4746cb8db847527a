#!/bin/sh
# Checks elves on every .safetensors file under the folders given:
#   - inspect --json succeeds and every exponent histogram sums to its
#     tensor's element count;
#   - a lossless compress restores byte for byte;
#   - an abs:1e-4 compress verifies against the model within 1e-4 and is
#     smaller than the lossless one.
# Usage: scripts/check_models.sh FOLDER...   (ELVES and BUILD may be set)
set -eu
elves=${ELVES:-./elves}
build=${BUILD:-build}
checker="$build/tests/json_histograms"
[ $# -gt 0 ] || { echo "usage: $0 FOLDER..." >&2; exit 2; }
[ -x "$checker" ] || { echo "$checker not built; run make $checker" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

count=0
for model in $(find "$@" -name '*.safetensors' | sort); do
    name=$(basename "$model")
    "$elves" inspect --json "$model" >"$tmp/inspect.json" || fail "$name: inspect --json"
    "$checker" <"$tmp/inspect.json" >/dev/null || fail "$name: inspect --json document"

    "$elves" compress "$model" -o "$tmp/lossless.elves" >/dev/null || fail "$name: lossless compress"
    "$elves" restore "$tmp/lossless.elves" -o "$tmp/restored" >/dev/null || fail "$name: restore"
    cmp -s "$model" "$tmp/restored" || fail "$name: restored file differs"

    "$elves" compress "$model" -o "$tmp/lossy.elves" --bound abs:1e-4 >/dev/null \
        || fail "$name: abs:1e-4 compress"
    "$elves" verify "$tmp/lossy.elves" "$model" >/dev/null || fail "$name: abs:1e-4 verify"
    lossless=$(wc -c <"$tmp/lossless.elves")
    lossy=$(wc -c <"$tmp/lossy.elves")
    [ "$lossy" -lt "$lossless" ] || fail "$name: abs:1e-4 ($lossy) not smaller than lossless ($lossless)"

    echo "ok $name: $(wc -c <"$model") bytes, lossless $lossless, abs:1e-4 $lossy"
    count=$((count + 1))
done
[ "$count" -gt 0 ] || fail "no .safetensors file under $*"
echo "ok $count models"
