# Shared helpers of the terminal-application tests. It lives in tests/lib/
# because the Makefile runs every tests/*.sh as a test. Each tests/tui_*.sh
# sources it after setting:
#   TEST_NAME  the test's name, which starts every failure message
#   TMP        its temporary folder, removed on exit
#   SOCKET     a tmux socket inside TMP: a private server, so the tests never
#              touch the user's tmux and leave no socket behind
#   SESSION    the tmux session the helpers read and type into
# and optionally CAPTURE_FLAGS (extra flags for capture-pane, such as -J).

cleanup() {
    tmux -S "$SOCKET" kill-server 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

screen() {
    # CAPTURE_FLAGS is split on purpose: it contains zero or more flags.
    # shellcheck disable=SC2086
    tmux -S "$SOCKET" capture-pane -p ${CAPTURE_FLAGS:-} -t "$SESSION" 2>/dev/null
}

fail() {
    echo "$TEST_NAME: FAIL: $*" >&2
    if [ -n "$SESSION" ]; then
        echo "--- screen:" >&2
        screen >&2
    fi
    exit 1
}

keys() {
    tmux -S "$SOCKET" send-keys -t "$SESSION" "$@" || fail "send-keys $*"
}

type_text() {
    tmux -S "$SOCKET" send-keys -t "$SESSION" -l "$1" || fail "typing $1"
}

# Polls the pane until grep with the flags $1 finds $2 there, for at most
# $3 seconds (default 10).
poll_screen() {
    tries=$(( ${3:-10} * 10 ))
    while [ "$tries" -gt 0 ]; do
        screen | grep "$1" -q -- "$2" && return 0
        sleep 0.1
        tries=$((tries - 1))
    done
    fail "timed out after ${3:-10} s waiting for \"$2\""
}

# Waits until the pane shows the fixed string $1, for at most $2 seconds.
wait_for() {
    poll_screen -F "$1" "${2:-10}"
}

# Waits until the pane matches the extended regular expression $1.
wait_for_re() {
    poll_screen -E "$1" "${2:-10}"
}

# Waits until the fixed string $1 has left the pane.
wait_gone() {
    tries=$(( ${2:-10} * 10 ))
    while [ "$tries" -gt 0 ]; do
        screen | grep -F -q -- "$1" || return 0
        sleep 0.1
        tries=$((tries - 1))
    done
    fail "timed out after ${2:-10} s waiting for \"$1\" to go away"
}
