#!/bin/sh
# Opens the generated synth-base model, whose 512 KB embedding is larger
# than a prediction sample, so that the analysis estimates its ratio
# (shown with "~"). Checks that the ratio turns exact once the background
# pass has encoded the layer in full, and that q exits with status 0.
#
# Run from the repository root:
#   ELVES=/abs/path/elves BUILD=/abs/path/build sh tests/tui_exact.sh

set -u

: "${ELVES:?set ELVES to the elves binary}"
: "${BUILD:?set BUILD to the build folder holding the generated samples}"
MODEL="$BUILD/samples/synth-base.safetensors"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elves-exact.XXXXXX") || exit 1
SOCKET="$TMP/tmux.sock"
SESSION=exact
TEST_NAME=tui_exact
. "$(dirname "$0")/lib/tmux.sh"

command -v tmux >/dev/null 2>&1 || { echo "tui_exact: FAIL: tmux is not installed" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "tui_exact: FAIL: $MODEL not found; run make samples" >&2; exit 1; }

tmux -S "$SOCKET" -f /dev/null new-session -d -s "$SESSION" -x 120 -y 40 \
    "'$ELVES' '$MODEL'; echo \"elves exited \$?\"; sleep 600" \
    || fail "cannot start tmux"

# The row ends with its ratio; without "~" it is exact. The embedding and
# lm_head are both larger than a sample, and either may finish first, so
# the progress must go away and then both rows must be exact.
wait_for_re 'model\.embed_tokens\.weight .* [~ ][0-9]+\.[0-9]+x *$' 30
wait_for_re 'model\.embed_tokens\.weight .* [^~][0-9]+\.[0-9]+x *$' 60
wait_gone 'exact figures' 60
wait_gone 'analysing' 60
screen | grep -E -q 'lm_head\.weight .* [^~][0-9]+\.[0-9]+x *$' \
    || fail "lm_head.weight is still an estimate after the exact pass"

tmux -S "$SOCKET" send-keys -t "$SESSION" q || fail "send-keys q"
wait_for "elves exited" 30
screen | grep -q 'elves exited 0' || fail "elves did not exit with status 0"
echo "tui_exact: ok"
