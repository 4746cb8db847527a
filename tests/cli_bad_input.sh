#!/bin/sh
# Damaged inputs give a clear error and a non-zero status, never a crash, and
# nothing is written.
set -eu
: "${ELVES:?set ELVES to the elves binary}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_error NAME PATTERN COMMAND...: the command must exit with status 1
# and print PATTERN on stderr.
expect_error() {
    name=$1 pattern=$2
    shift 2
    set +e
    "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
    set -e
    [ "$status" -eq 1 ] || fail "$name: status $status, expected 1 ($(cat "$tmp/err"))"
    grep -q -- "$pattern" "$tmp/err" || fail "$name: stderr lacks \"$pattern\": $(cat "$tmp/err")"
}

sample=samples/stories260K.safetensors
head -c 100 "$sample" >"$tmp/truncated.safetensors"
head -c 500000 "$sample" >"$tmp/cut-data.safetensors"
printf '\377\377\377\377\377\377\377\177{}' >"$tmp/huge-header.safetensors"
printf '\000' >"$tmp/short.safetensors"
: >"$tmp/empty.safetensors"

# Two tensors whose data ranges overlap: [0, 8) and [4, 12) over 12 bytes.
header='{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
len=$(printf '%s' "$header" | wc -c)
{
    printf "$(printf '\\%03o' "$len")\000\000\000\000\000\000\000"
    printf '%s' "$header"
    printf '\000\000\000\000\000\000\000\000\000\000\000\000'
} >"$tmp/overlap.safetensors"

for f in truncated cut-data huge-header short empty overlap; do
    path="$tmp/$f.safetensors"
    expect_error "inspect $f" "$f.safetensors" "$ELVES" inspect "$path"
    expect_error "compress $f" "$f.safetensors" "$ELVES" compress "$path" -o "$tmp/$f.elves"
    [ ! -e "$tmp/$f.elves" ] || fail "compress $f left $tmp/$f.elves behind"
    ls "$tmp" | grep -q tmp- && fail "compress $f left a temporary file"
    echo "ok $f"
done
expect_error "overlap message" "overlap" "$ELVES" inspect "$tmp/overlap.safetensors"
expect_error "missing file" "No such file" "$ELVES" inspect "$tmp/missing.safetensors"

# Damaged containers: truncated, a flipped payload byte, not a container.
"$ELVES" compress "$sample" -o "$tmp/good.elves" >/dev/null
head -c 1000 "$tmp/good.elves" >"$tmp/cut.elves"
cp "$tmp/good.elves" "$tmp/flipped.elves"
printf '\001' | dd of="$tmp/flipped.elves" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect_error "restore truncated container" "truncated" "$ELVES" restore "$tmp/cut.elves" -o "$tmp/x"
expect_error "restore flipped container" "checksum" "$ELVES" restore "$tmp/flipped.elves" -o "$tmp/x"
expect_error "verify flipped container" "checksum" "$ELVES" verify "$tmp/flipped.elves"
expect_error "restore a model" "not an .elves container" "$ELVES" restore "$sample" -o "$tmp/x"
[ ! -e "$tmp/x" ] || fail "a failed restore left $tmp/x behind"

# A container or a text file given as a model, and outputs that cannot
# become files, each with a message that names the problem. These used to
# report a damaged safetensors header, or fail only after all the work
# with the temporary file's name.
expect_error "compress a container" "is an elves container, not a model" \
    "$ELVES" compress "$tmp/good.elves" -o "$tmp/again.elves"
printf 'just some text, not weights\n' >"$tmp/notes.bin"
expect_error "inspect a text file" "is not a model file elves reads" \
    "$ELVES" inspect "$tmp/notes.bin"
expect_error "compress into a missing folder" "folder $tmp/none of output .* does not exist" \
    "$ELVES" compress "$sample" -o "$tmp/none/out.elves"
mkdir "$tmp/folder"
expect_error "compress onto a folder" "output $tmp/folder is a folder" \
    "$ELVES" compress "$sample" -o "$tmp/folder"
expect_error "restore into a missing folder" "folder $tmp/none of output" \
    "$ELVES" restore "$tmp/good.elves" -o "$tmp/none/out.safetensors"
[ -z "$(ls "$tmp/folder")" ] || fail "compress onto a folder wrote into it"
ls "$tmp" | grep -q tmp- && fail "a failed output check left a temporary file"

# Usage errors exit with 2.
set +e
"$ELVES" compress "$sample" >/dev/null 2>&1
[ $? -eq 2 ] || fail "compress without -o should exit 2"
"$ELVES" compress "$sample" -o "$tmp/y.elves" --bound abs:-1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "a negative bound should exit 2"
# -T takes a whole number from 1 to 64 on every command; "2x" once passed
# as 2.
for args in "inspect $sample -T 0" "compress $sample -o $tmp/y.elves -T 2x" \
            "restore $tmp/cut.elves -o $tmp/x -T 65" "verify $tmp/cut.elves -T x"; do
    # $args is split on purpose into the command's words.
    # shellcheck disable=SC2086
    err=$("$ELVES" $args 2>&1 >/dev/null)
    [ $? -eq 2 ] || fail "elves $args should exit 2"
    echo "$err" | grep -q 'invalid -T' || fail "elves $args: no \"invalid -T\" message: $err"
done
set -e
echo "ok bad input"
