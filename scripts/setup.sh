#!/bin/sh
# Installs the Debian packages that building and testing elves need.
#
# Prints nothing and exits 0 when everything is installed. As root, installs
# what is missing with apt-get. As another user, prints the command to run and
# exits 1. Without dpkg-query (not Debian), checks that the compiler finds the
# library headers and exits 1 when one is missing.
set -eu

# libclang-rt-14-dev contains the AddressSanitizer and UBSan runtimes for
# Debian 12's clang 14, which `make check` links.
packages="gcc make clang libclang-rt-14-dev libncurses-dev libzstd-dev
libcjson-dev libcmocka-dev libxxhash-dev tmux"

# Headers of the libraries above, as the sources include them.
headers="zstd.h cjson/cJSON.h xxhash.h ncurses.h cmocka.h"

check_headers() {
    cc=${CC:-cc}
    missing_headers=

    for header in $headers; do
        if ! echo "#include <$header>" | "$cc" -E - >/dev/null 2>&1; then
            missing_headers="$missing_headers $header"
        fi
    done

    if [ -n "$missing_headers" ]; then
        echo "setup.sh: headers not found by $cc:$missing_headers" >&2
        return 1
    fi
    return 0
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup.sh: dpkg-query not found, so this is not a Debian system." >&2
    echo "setup.sh: install a C11 compiler, make, clang with its sanitizer" \
         "runtimes, tmux and the development files of ncurses (wide" \
         "characters), zstd, cJSON, cmocka and xxHash." >&2
    if check_headers; then
        exit 0
    fi
    exit 1
fi

missing=
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing="$missing $package"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing Debian packages:$missing" >&2
    echo "setup.sh: install them as root with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "setup.sh: installing missing Debian packages:$missing"
apt-get update -qq
# $missing is a space-separated list of package names, split on purpose.
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
