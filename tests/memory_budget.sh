#!/bin/sh
# Compressing and restoring a generated model of about 120 MB stays within a
# small memory budget: the peak resident memory of each run, read through
# getrusage by rss_of, must stay under the budget.
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
