#!/bin/sh
# Opens broken model files the way a user would, `elves FILE`: each must
# fail with a non-zero status and an error on stderr naming the file, before
# the terminal application takes over the screen, and leave the terminal
# usable. Also checks the refusal to start without a terminal.
#
# Run from the repository root: ELVES=/abs/path/elves sh tests/tui_bad_input.sh

set -u

: "${ELVES:?set ELVES to the elves binary}"
SAMPLE=samples/stories260K.safetensors
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elves-bad.XXXXXX") || exit 1
SOCKET="$TMP/tmux.sock"
SESSION=
TEST_NAME=tui_bad_input
CAPTURE_FLAGS=-J
. "$(dirname "$0")/lib/tmux.sh"

command -v tmux >/dev/null 2>&1 || { echo "tui_bad_input: FAIL: tmux is not installed" >&2; exit 1; }
[ -f "$SAMPLE" ] || { echo "tui_bad_input: FAIL: $SAMPLE not found; run from the repository root" >&2; exit 1; }

# The broken files.
truncated="$TMP/truncated.safetensors"
head -c 100 "$SAMPLE" >"$truncated"

# A header length of 0xffffffffffff0000 bytes, far beyond the file.
huge="$TMP/huge-header.safetensors"
printf '\000\000\377\377\377\377\377\377{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' >"$huge"

missing="$TMP/missing.safetensors"

# Without a terminal: the error goes to stderr with a non-zero status.
for file in "$truncated" "$huge" "$missing"; do
    "$ELVES" "$file" </dev/null >"$TMP/stdout" 2>"$TMP/stderr"
    status=$?
    [ "$status" -ne 0 ] || fail "elves $file exited 0"
    [ "$status" -lt 128 ] || fail "elves $file died from signal $((status - 128))"
    grep -F -q -- "$file" "$TMP/stderr" || {
        cat "$TMP/stderr" >&2
        fail "stderr of elves $file does not name the file"
    }
done

# A good model without a terminal is refused rather than drawn into a pipe.
"$ELVES" "$SAMPLE" </dev/null >"$TMP/stdout" 2>"$TMP/stderr" \
    && fail "elves started its terminal application without a terminal"
grep -q 'terminal' "$TMP/stderr" || {
    cat "$TMP/stderr" >&2
    fail "refusal without a terminal does not say why"
}
[ -s "$TMP/stdout" ] && fail "elves wrote to stdout without a terminal"

# In a terminal: the message stays readable, the screen is not left in the
# alternate buffer and the line discipline is back to echo and canonical.
n=0
for file in "$truncated" "$huge"; do
    n=$((n + 1))
    SESSION=bad$n
    tmux -S "$SOCKET" -f /dev/null new-session -d -s "$SESSION" -x 200 -y 20 \
        "'$ELVES' '$file'; echo \"elves exited \$?\"; stty -a; sleep 600" \
        || fail "cannot start tmux"

    wait_for "elves exited" 30
    screen | grep -q 'elves exited 0' && fail "elves $file exited 0 in a terminal"
    screen | grep -F -q -- "$file" || fail "the pane does not show the error naming $file"

    settings=$(screen | tr ' ' '\n')
    echo "$settings" | grep -q -x -- '-echo' && fail "echo left off after elves $file"
    echo "$settings" | grep -q -x -- '-icanon' && fail "canonical mode left off after elves $file"
    [ "$(tmux -S "$SOCKET" display-message -p -t "$SESSION" '#{alternate_on}')" = 0 ] \
        || fail "elves $file left the alternate screen on"

done

echo "tui_bad_input: ok"
