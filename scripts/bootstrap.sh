#!/usr/bin/env bash
# System prerequisites for `make install`: a MariaDB/MySQL server binary (for the private
# dev/test database), a Python >= 3.11 that can create virtualenvs, and chromium (for
# the dashboard's browser tests).
#
# Idempotent and quiet when everything is present. Installs missing Debian packages
# with apt-get when run as root; otherwise prints the exact command and fails.
#
# Usage: scripts/bootstrap.sh [PYTHON]     (PYTHON defaults to python3)
set -euo pipefail

PYTHON=${1:-python3}
MIN_PY=(3 11)

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

have_server() {
    local name
    for name in mariadbd mysqld; do
        command -v "$name" >/dev/null 2>&1 && return 0
        [ -x "/usr/sbin/$name" ] && return 0
    done
    return 1
}

# --- Python -----------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || {
    if [ "$PYTHON" = python3 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        NEED_PY=1
    else
        die "'$PYTHON' is not on PATH: install Python ${MIN_PY[0]}.${MIN_PY[1]}+ (Debian: apt-get install -y python3 python3-venv)"
    fi
}

packages=()
if [ -n "${NEED_PY:-}" ]; then
    packages+=(python3 python3-venv)
else
    "$PYTHON" -c "import sys; sys.exit(sys.version_info < (${MIN_PY[0]}, ${MIN_PY[1]}))" ||
        die "$("$PYTHON" --version 2>&1) is too old: workcraft needs Python ${MIN_PY[0]}.${MIN_PY[1]}+ (set PYTHON=/path/to/python3.11 when calling make)"
    # Debian's python3 ships `venv` but not `ensurepip` (that is python3-venv), so
    # `python3 -m venv` fails there until the package is installed.
    if ! "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; then
        packages+=(python3-venv)
    fi
fi

# --- Database server ----------------------------------------------------------------
have_server || packages+=(mariadb-server)

# --- Browser for the dashboard's browser tests (Playwright drives Debian's chromium;
# its own browser download does not work offline) ------------------------------------
[ -x /usr/bin/chromium ] || packages+=(chromium)

[ "${#packages[@]}" -eq 0 ] && exit 0

apt_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages[*]}"
if [ "$(id -u)" -ne 0 ]; then
    die "missing system packages (${packages[*]}). Run as root:
    sudo sh -c '$apt_cmd'
then run make again."
fi
command -v apt-get >/dev/null 2>&1 ||
    die "missing ${packages[*]} and this is not a Debian/Ubuntu system (no apt-get): install them with your package manager"

say "installing ${packages[*]} with apt-get (this takes a minute)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${packages[@]}"; } </dev/null >"$log" 2>&1; then
    cat "$log" >&2
    die "apt-get failed (command: $apt_cmd)"
fi

have_server || die "mariadb-server installed but no mariadbd/mysqld found on PATH or in /usr/sbin"
if [ -z "${NEED_PY:-}" ]; then
    "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1 ||
        die "'$PYTHON' still cannot create virtualenvs after installing python3-venv (is '$PYTHON' Debian's python3? set PYTHON=... when calling make)"
fi
say "system packages ready"
