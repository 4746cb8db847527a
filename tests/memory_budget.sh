#!/bin/sh
# Checks that compress and restore of a generated 120 MB model, and
# inspect, compress and restore of a model of one 160 MB tensor, stay within
# a small memory budget. rss_of reads each run's peak resident memory
# through getrusage.
set -eu
: "${ELVES:?set ELVES to the elves binary}"
: "${BUILD:?set BUILD to the build folder}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# AddressSanitizer keeps freed memory in quarantine and adds shadow memory,
# so resident memory means nothing in the sanitizer build: there the runs
# are still checked for correctness, without the limit.
limit_kib=$((96 * 1024))
case "$BUILD" in
*san*) limit_kib=$((4 * 1024 * 1024)) ;;
esac

"$BUILD/gen_synth" --scale 8 "$tmp" >/dev/null || fail "generating the model"
model="$tmp/synth-base.safetensors"

rss=$("$BUILD/tests/rss_of" "$ELVES" compress "$model" -o "$tmp/m.elves" --memory 96 -T 2 \
      --bound abs:1e-4 | tail -n 1) || fail "compress --memory 96"
[ "$rss" -le "$limit_kib" ] || fail "compress peaked at $rss KiB, over $limit_kib KiB"
echo "ok compress of $(wc -c <"$model") bytes peaked at $rss KiB"

rss=$("$BUILD/tests/rss_of" "$ELVES" restore "$tmp/m.elves" -o "$tmp/r.safetensors" \
      | tail -n 1) || fail "restore"
[ "$rss" -le "$limit_kib" ] || fail "restore peaked at $rss KiB, over $limit_kib KiB"
"$ELVES" verify "$tmp/m.elves" "$model" >/dev/null || fail "verify after the budgeted compress"
echo "ok restore peaked at $rss KiB"

# One tensor of 160 MB, larger than the budget: no step may hold it whole
# (hashing, analysis, chunk encoding, restore).
big="$tmp/one-tensor.safetensors"
header='{"big":{"dtype":"F32","shape":[40000000],"data_offsets":[0,160000000]}}'
len=$(printf '%s' "$header" | wc -c)
{
    printf "\\$(printf '%03o' "$len")\\000\\000\\000\\000\\000\\000\\000"
    printf '%s' "$header"
    head -c 160000000 /dev/urandom
} >"$big" || fail "writing the one-tensor model"

rss=$("$BUILD/tests/rss_of" "$ELVES" inspect "$big" | tail -n 1) || fail "inspect of one tensor"
[ "$rss" -le "$limit_kib" ] || fail "inspect of one 160 MB tensor peaked at $rss KiB, over $limit_kib KiB"
rss=$("$BUILD/tests/rss_of" "$ELVES" compress "$big" -o "$tmp/big.elves" --memory 96 -T 2 \
      | tail -n 1) || fail "compress of one tensor"
[ "$rss" -le "$limit_kib" ] || fail "compress of one 160 MB tensor peaked at $rss KiB, over $limit_kib KiB"
rss=$("$BUILD/tests/rss_of" "$ELVES" restore "$tmp/big.elves" -o "$tmp/big-r.safetensors" \
      | tail -n 1) || fail "restore of one tensor"
[ "$rss" -le "$limit_kib" ] || fail "restore of one 160 MB tensor peaked at $rss KiB, over $limit_kib KiB"
cmp -s "$big" "$tmp/big-r.safetensors" || fail "the one-tensor model did not restore byte for byte"
echo "ok one 160 MB tensor: inspect, compress and restore within $limit_kib KiB"
