#!/bin/sh
# Opens a synthetic model of about 270 MB in the terminal application and
# checks that the layer table appears before the analysis ends. Tensor
# names must show within 1 s and the progress indicator while analysing.
# Once the analysis has finished, a large layer must show a ratio, and q
# must exit with status 0. Prints both times.
#
# Run from the repository root:
#   ELVES=/abs/path/elves BUILD=/abs/path/build sh tests/tui_first_screen.sh
#
# TUI_MODEL=/abs/path/model.safetensors runs the same checks on that model
# instead of a generated one (the large-model benchmark does). It must have
# a tensor named model.layers.0.mlp.down_proj.weight, as gen_synth and
# gen_large write, and the analysis may take 60 s plus 1 s per 50 MB.

set -u

: "${ELVES:?set ELVES to the elves binary}"
: "${BUILD:?set BUILD to the build folder holding gen_synth}"
GEN="$BUILD/gen_synth"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/elves-first.XXXXXX") || exit 1
# A private server whose socket lives in the temporary folder, so the test
# never touches the user's tmux and leaves no socket behind.
SOCKET="$TMP/tmux.sock"
SESSION=first
TEST_NAME=tui_first_screen
. "$(dirname "$0")/lib/tmux.sh"

# Milliseconds since the epoch (GNU date).
now_ms() {
    echo $(( $(date +%s%N) / 1000000 ))
}

command -v tmux >/dev/null 2>&1 || { echo "tui_first_screen: FAIL: tmux is not installed" >&2; exit 1; }

analysis_s=60
if [ -n "${TUI_MODEL:-}" ]; then
    MODEL=$TUI_MODEL
    [ -f "$MODEL" ] || { echo "tui_first_screen: FAIL: TUI_MODEL $MODEL is not a file" >&2; exit 1; }
    size=$(wc -c <"$MODEL")
    analysis_s=$((60 + size / 50000000))
else
    [ -x "$GEN" ] || { echo "tui_first_screen: FAIL: $GEN not found; run make samples" >&2; exit 1; }
    "$GEN" --scale 12 "$TMP/models" >"$TMP/gen.out" 2>&1 \
        || { cat "$TMP/gen.out" >&2; echo "tui_first_screen: FAIL: gen_synth failed" >&2; exit 1; }
    MODEL="$TMP/models/synth-base.safetensors"
    size=$(wc -c <"$MODEL")
    [ "$size" -gt 200000000 ] || { echo "tui_first_screen: FAIL: $MODEL has $size bytes, expected about 270 MB" >&2; exit 1; }
fi

start=$(now_ms)
tmux -S "$SOCKET" -f /dev/null new-session -d -s "$SESSION" -x 120 -y 40 \
    "'$ELVES' '$MODEL'; echo \"elves exited \$?\"; sleep 600" \
    || fail "cannot start tmux"

# Poll as fast as capture-pane allows: the table must come within 1 s, and
# the progress indicator must show in some capture before the analysis ends.
table_ms=
saw_progress=0
deadline=$((start + analysis_s * 1000))
while :; do
    shot=$(screen)
    t=$(now_ms)
    if [ -z "$table_ms" ] && echo "$shot" | grep -q 'model\.layers\.0\.mlp\.down_proj\.weight'; then
        table_ms=$((t - start))
    fi
    echo "$shot" | grep -q 'analysing [0-9]*%' && saw_progress=1
    if [ -n "$table_ms" ] && ! echo "$shot" | grep -q -e 'analysing' -e 'finding duplicates'; then
        break
    fi
    [ "$t" -lt "$deadline" ] || fail "analysis did not finish within $analysis_s s"
    sleep 0.02
done
analysed_ms=$(( $(now_ms) - start ))

[ "$table_ms" -lt 1000 ] || fail "layer table took $table_ms ms to appear, expected under 1000 ms"
[ "$saw_progress" = 1 ] \
    || fail "no \"analysing N%\" indicator was seen before the analysis finished"

# An 18 MiB layer shows a ratio such as ~1.21x once analysed.
screen | grep 'model\.layers\.0\.mlp\.down_proj\.weight' | grep -E -q '[0-9]+\.[0-9]+x *$' \
    || fail "no ratio shown for model.layers.0.mlp.down_proj.weight after the analysis"
screen | grep 'model\.layers\.0\.mlp\.down_proj\.weight' | grep -F -q '..' \
    && fail "placeholder left on model.layers.0.mlp.down_proj.weight after the analysis"

tmux -S "$SOCKET" send-keys -t "$SESSION" q || fail "send-keys q"
wait_for "elves exited" 30
screen | grep -q 'elves exited 0' || fail "elves did not exit with status 0"

echo "tui_first_screen: ok (table after $table_ms ms, analysis done after $analysed_ms ms, $size bytes)"
