#!/bin/sh
# Drives the terminal application through tmux like a user: the layer table,
# a layer's detail with its exponent histogram, a bound edit (a bad one and
# a good one), an export with its report, then `elves verify` on the output.
# Also checks that the table fits 80x24 and that 40x10 degrades to a notice.
#
# Run from the repository root: ELVES=/abs/path/elves sh tests/tui_explore_export.sh

set -u

: "${ELVES:?set ELVES to the elves binary}"
SAMPLE=samples/stories260K.safetensors
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elves-tui.XXXXXX") || exit 1
# A private server whose socket lives in the temporary folder, so the test
# never touches the user's tmux and leaves no socket behind.
SOCKET="$TMP/tmux.sock"
SESSION=
TEST_NAME=tui_explore_export
. "$(dirname "$0")/lib/tmux.sh"

# Starts elves on the sample in a new session of size $2x$3 named $1; the
# shell reports the exit status so the test can check it after quitting.
# The previous session goes only after the new one exists, because the
# server exits with its last session.
start() {
    previous=$SESSION
    SESSION=$1
    tmux -S "$SOCKET" -f /dev/null new-session -d -s "$SESSION" -x "$2" -y "$3" \
        "'$ELVES' '$SAMPLE'; echo \"elves exited \$?\"; sleep 600" \
        || fail "cannot start tmux"
    [ -z "$previous" ] || tmux -S "$SOCKET" kill-session -t "$previous"
}

command -v tmux >/dev/null 2>&1 || { echo "tui_explore_export: FAIL: tmux is not installed" >&2; exit 1; }
[ -f "$SAMPLE" ] || { echo "tui_explore_export: FAIL: $SAMPLE not found; run from the repository root" >&2; exit 1; }

# Table, then the third layer's detail.
start explore 100 30
wait_for "sort:name" 30
keys 2
wait_for "ratio"
keys j j Enter
wait_for "Exponent histogram"
screen | grep -q '2^-[0-9]' || fail "detail shows no 2^-N histogram label"
screen | grep -q 'Statistics' || fail "detail shows no statistics"
layer=$(screen | sed -n 2p | tr -d ' ')
[ -n "$layer" ] || fail "detail shows no layer name on its second line"

# A bad bound is reported and changes nothing.
keys Escape
wait_for "sort:name"
keys b C-u
type_text "abs:-1"
keys Enter
wait_for "abs:-1"
screen | grep -F -- "$layer" | grep -q 'lossless' || fail "bad bound changed $layer"

# A good bound shows in the table.
keys b C-u
type_text "abs:1e-3"
keys Enter
wait_for "set to abs:"
screen | grep -F -- "$layer " | grep -q 'abs:0.001' || fail "table does not show abs:0.001 for $layer"

# Export into the temporary folder and wait for the report.
out="$TMP/out.elves"
keys e
wait_for "output path"
keys C-u
type_text "$out"
keys Enter
wait_for "achieved" 60
wait_for "max error"
screen | grep -F -q -- "$out" || fail "report does not name $out"
screen | grep -q 'KiB.*x' || fail "report shows no per-layer sizes and ratios"
[ -s "$out" ] || fail "export wrote nothing to $out"

keys q
wait_for "sort:name"
keys q
wait_for "elves exited" 30
screen | grep -q 'elves exited 0' || fail "elves did not exit with status 0"

"$ELVES" verify "$out" "$SAMPLE" >"$TMP/verify.out" 2>&1 \
    || { cat "$TMP/verify.out" >&2; fail "elves verify rejected the export"; }

# 80x24 is the smallest size the table is designed for.
start small 80 24
wait_for "sort:name" 30
screen | grep -q 'too small' && fail "80x24 shows the too-small notice"
screen | grep -q 'ratio' || fail "80x24 table has no ratio column"

# Below the minimum a notice replaces the screens, and they come back.
tmux -S "$SOCKET" resize-window -t "$SESSION" -x 40 -y 10
wait_for "too small"
tmux -S "$SOCKET" resize-window -t "$SESSION" -x 80 -y 24
wait_gone "too small"
wait_for "sort:name"

keys q
wait_for "elves exited" 30
screen | grep -q 'elves exited 0' || fail "elves did not exit with status 0 at 80x24"

echo "tui_explore_export: ok"
