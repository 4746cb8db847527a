#!/bin/sh
# Checks elves on every model file under the folders given: safetensors,
# GGUF, PyTorch .bin/.pt/.pth, ONNX, .npz and .npy. llama2.c .bin files are
# not a format elves reads, so they are skipped by name. For each file:
#   - inspect --json succeeds and every exponent histogram sums to its
#     tensor's element count;
#   - a lossless compress restores byte for byte, and restore --to
#     safetensors gives a file whose tensors verify against the container;
#   - an abs:1e-4 compress verifies against the model within 1e-4 and, for
#     safetensors, is smaller than the lossless one. Other formats may have
#     only tensors restored from the bytes around them (a deflated .npz),
#     which no bound shrinks.
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
for model in $(find "$@" -type f \( -name '*.safetensors' -o -name '*.gguf' -o -name '*.bin' \
                  -o -name '*.pt' -o -name '*.pth' -o -name '*.onnx' -o -name '*.npz' \
                  -o -name '*.npy' \) ! -name '*.llama2c.bin' ! -path '*/fixtures/inflate-*' | sort); do
    name=$(basename "$model")
    "$elves" inspect --json "$model" >"$tmp/inspect.json" || fail "$name: inspect --json"
    "$checker" <"$tmp/inspect.json" >/dev/null || fail "$name: inspect --json document"

    "$elves" compress "$model" -o "$tmp/lossless.elves" >/dev/null || fail "$name: lossless compress"
    "$elves" restore "$tmp/lossless.elves" -o "$tmp/restored" >/dev/null || fail "$name: restore"
    cmp -s "$model" "$tmp/restored" || fail "$name: restored file differs"
    "$elves" restore "$tmp/lossless.elves" -o "$tmp/converted.safetensors" --to safetensors \
        >/dev/null || fail "$name: restore --to safetensors"
    "$elves" verify "$tmp/lossless.elves" "$tmp/converted.safetensors" >/dev/null \
        || fail "$name: the converted safetensors file differs from the container"

    "$elves" compress "$model" -o "$tmp/lossy.elves" --bound abs:1e-4 >/dev/null \
        || fail "$name: abs:1e-4 compress"
    "$elves" verify "$tmp/lossy.elves" "$model" >/dev/null || fail "$name: abs:1e-4 verify"
    lossless=$(wc -c <"$tmp/lossless.elves")
    lossy=$(wc -c <"$tmp/lossy.elves")
    case "$name" in
    *.safetensors)
        [ "$lossy" -lt "$lossless" ] \
            || fail "$name: abs:1e-4 ($lossy) not smaller than lossless ($lossless)" ;;
    esac

    echo "ok $name: $(wc -c <"$model") bytes, lossless $lossless, abs:1e-4 $lossy"
    count=$((count + 1))
done
[ "$count" -gt 0 ] || fail "no model file under $*"
echo "ok $count models"
