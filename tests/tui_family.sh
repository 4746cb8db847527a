#!/bin/sh
# Drives the terminal application through tmux on a base model and its
# fine-tune opened together. It checks the shared-bytes matrix on the
# overview, the dedup screen and its jump to a layer detail, and a family
# export restored and compared byte for byte. Then it sets the base, checks
# the table's column, and exports and restores the fine-tune against that
# base. Last, it checks that the dedup screen fits 80x24.
#
# Run from the repository root:
#   ELVES=/abs/path/elves BUILD=/abs/path/build sh tests/tui_family.sh

set -u

: "${ELVES:?set ELVES to the elves binary}"
: "${BUILD:?set BUILD to the build folder holding samples/}"
BASE="$BUILD/samples/synth-base.safetensors"
FINETUNE="$BUILD/samples/synth-finetune.safetensors"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elves-family.XXXXXX") || exit 1
# A private server whose socket lives in the temporary folder, so the test
# never touches the user's tmux and leaves no socket behind.
SOCKET="$TMP/tmux.sock"
SESSION=
TEST_NAME=tui_family
. "$(dirname "$0")/lib/tmux.sh"

status_line() {
    screen | tail -n 1
}

# Starts elves on both models in a new session of size $2x$3 named $1, in
# a UTF-8 locale so the table can draw its delta sign. The shell reports
# the exit status so the test can check it after quitting. The previous
# session goes only after the new one exists, because the server exits
# with its last session.
start() {
    previous=$SESSION
    SESSION=$1
    LC_ALL=C.UTF-8 tmux -u -S "$SOCKET" -f /dev/null new-session -d -s "$SESSION" \
        -x "$2" -y "$3" \
        "LC_ALL=C.UTF-8 '$ELVES' '$BASE' '$FINETUNE'; echo \"elves exited \$?\"; sleep 600" \
        || fail "cannot start tmux"
    [ -z "$previous" ] || tmux -S "$SOCKET" kill-session -t "$previous"
}

# Exports the family to $1 with E and waits for the report.
export_family() {
    keys E
    wait_for "Export family"
    screen | grep -F -q "family.elves" || fail "family export does not offer family.elves"
    keys C-u
    type_text "$1"
    keys Enter
    wait_for "achieved" 60
    screen | grep -F -q -- "$1" || fail "report does not name $1"
    [ -s "$1" ] || fail "family export wrote nothing to $1"
}

command -v tmux >/dev/null 2>&1 || { echo "tui_family: FAIL: tmux is not installed" >&2; exit 1; }
for model in "$BASE" "$FINETUNE"; do
    [ -f "$model" ] || { echo "tui_family: FAIL: $model not found; run make samples" >&2; exit 1; }
done

# The overview of two models opens with the bytes they share.
start family 120 40
wait_for "Shared bytes" 60
screen | grep -E -q '^ +synth-base +- +[0-9.]+% ' \
    || fail "matrix has no synth-base row with a share of synth-finetune"
screen | grep -E -q '^ +synth-finetune +[0-9.]+% +[0-9.]+ [KM]i?B +-' \
    || fail "matrix has no synth-finetune row with a share of synth-base"
wait_for "Duplicate bytes"
screen | grep -F -q "CDC chunks" || fail "overview shows no CDC chunk level"

# The dedup screen lists a tensor of the fine-tune with its copy in the base.
keys 3
wait_for "Identical tensors" 60
name=$(screen | sed -n 's/^ *synth-finetune:\([^ ]*\).*/\1/p' | head -n 1)
[ -n "$name" ] || fail "dedup screen lists no copy in synth-finetune"
screen | grep -F -q "synth-base:$name" || fail "group of $name does not list synth-base"

# Enter on a fine-tune copy opens that layer of the fine-tune.
tries=20
while ! status_line | grep -q '^ synth-finetune |'; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || fail "cursor never reached a synth-finetune copy"
    keys j
    sleep 0.1
done
selected=$(status_line | sed 's/^ synth-finetune | \([^ ]*\).*/\1/')
keys Enter
wait_for "Layer detail"
wait_for "Statistics"
[ "$(screen | sed -n 2p | tr -d ' ')" = "$selected" ] \
    || fail "detail shows another layer than $selected"
screen | sed -n 3p | grep -q '^ *synth-finetune ' || fail "detail is not of synth-finetune"
keys Escape
wait_for "Identical tensors"

# A family of both models restores each byte for byte.
keys 1
wait_for "Shared bytes"
both="$TMP/both.elves"
export_family "$both"
"$ELVES" restore "$both" -o "$TMP/both" >"$TMP/restore.out" 2>&1 \
    || { cat "$TMP/restore.out" >&2; fail "elves restore rejected $both"; }
cmp "$TMP/both/synth-finetune.safetensors" "$FINETUNE" >/dev/null \
    || fail "restored fine-tune differs from $FINETUNE"
cmp "$TMP/both/synth-base.safetensors" "$BASE" >/dev/null \
    || fail "restored base differs from $BASE"

# m on the base model sets the base; the table gains its column.
keys 1
wait_for "Shared bytes"
tries=4
while ! screen | grep -q '^> synth-base'; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || fail "overview never marked synth-base as current"
    keys '['
    sleep 0.1
done
keys m
wait_for "synth-base is the base" 60
screen | grep -E -q 'base model +synth-base' || fail "overview does not name the base"
keys 2
wait_for "sort:name"
screen | grep -F -q "Δbase" || fail "table has no Δbase column with a base set"

# With a base, the family contains the fine-tune alone, as deltas that
# restore against the same base.
deltas="$TMP/deltas.elves"
export_family "$deltas"
status_line | grep -F -q "restoring needs" \
    || fail "status does not say that restoring the deltas needs the base"
"$ELVES" restore "$deltas" -o "$TMP/finetune.safetensors" --base "$BASE" >"$TMP/restore.out" 2>&1 \
    || { cat "$TMP/restore.out" >&2; fail "elves restore --base rejected $deltas"; }
cmp "$TMP/finetune.safetensors" "$FINETUNE" >/dev/null \
    || fail "fine-tune restored against the base differs from $FINETUNE"

# m on the base again clears it, and the column goes.
keys 1
wait_for "Shared bytes"
keys m
wait_for "base cleared" 30
keys 2
wait_for "sort:name"
screen | grep -F -q "Δbase" && fail "table keeps the Δbase column after the base was cleared"

keys q
wait_for "elves exited" 30
screen | grep -q 'elves exited 0' || fail "elves did not exit with status 0"

# The dedup screen fits 80x24.
start small 80 24
wait_for "Shared bytes" 60
keys 3
wait_for "Identical tensors" 60
screen | grep -q 'too small' && fail "80x24 shows the too-small notice"
screen | grep -q '^ *synth-base:' || fail "80x24 dedup screen lists no copy"
status_line | grep -q 'Enter:detail' || fail "80x24 dedup screen has no key hints"

keys q
wait_for "Shared bytes"
keys q
wait_for "elves exited" 30
screen | grep -q 'elves exited 0' || fail "elves did not exit with status 0 at 80x24"

echo "tui_family: ok"
