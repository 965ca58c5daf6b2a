# Sourced by scripts/test and scripts/demo: a project virtualenv with the Python
# dependencies the caller names in EXTRAS (pyproject.toml extras; scripts/test: dev,
# scripts/demo: flask), (re)installed only when pyproject.toml or EXTRAS change, and
# the Debian packages the tests need, installed with apt-get when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${WECHAT_VENV:-.venv}"
PY="$VENV/bin/python"
EXTRAS="${EXTRAS:-dev}"

if [ ! -x "$PY" ]; then
    echo "==> creating $VENV"
    python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$EXTRAS-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "==> installing wechat-middleware[$EXTRAS] into $VENV"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet -e ".[$EXTRAS]"
    rm -f "$VENV"/.installed-"$EXTRAS"-*
    touch "$stamp"
fi

apt_updated=""
# need_apt COMMAND PACKAGE: install PACKAGE with apt-get unless COMMAND is on PATH.
need_apt() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "==> installing $2 (apt-get)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

# need_apt_package PACKAGE: install PACKAGE with apt-get unless dpkg has it (for packages
# with no command of their own, such as fonts).
need_apt_package() {
    dpkg -s "$1" >/dev/null 2>&1 && return 0
    need_apt "/nonexistent/$1" "$1"
}
