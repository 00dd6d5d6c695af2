#!/usr/bin/env bash
# Install what `make run` and `make test` need: system packages (Debian/Ubuntu) and the
# Python virtualenv at .venv. Idempotent, and fast when nothing is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha256"
CHROMIUM_BIN=/usr/lib/chromium/chromium

say() { echo "bootstrap: $*"; }
die() { echo "bootstrap: ERROR: $*" >&2; exit 1; }

# --- operating system -----------------------------------------------------------------
os_id="" os_like=""
if [[ -r /etc/os-release ]]; then
    os_id="$(. /etc/os-release && echo "${ID:-}")"
    os_like="$(. /etc/os-release && echo "${ID_LIKE:-}")"
fi
case " $os_id $os_like " in
    *" debian "* | *" ubuntu "*) ;;
    *)
        die "unsupported OS '${os_id:-unknown}' (only Debian/Ubuntu are automated).
  Install by hand: Chromium (or Chrome), Xvfb, x11-utils (xdpyinfo), xauth, fonts
  (Liberation, DejaVu), redis-server and python3 >= 3.11 with venv support; then set
  BROWSER_EXECUTABLE to the Chromium binary and run this script again."
        ;;
esac

# --- system packages ------------------------------------------------------------------
packages=(chromium xvfb x11-utils xauth x11vnc novnc fonts-liberation fonts-dejavu-core redis-server postgresql)
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    packages+=(python3 python3-venv)
elif ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    # Debian's python3 ships `venv` but not `ensurepip`; python3-venv adds it.
    packages+=(python3-venv)
fi

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == *" ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
    say "installing system packages: ${missing[*]}"
    SUDO=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || die "not root and no sudo: run 'apt-get install ${missing[*]}' as root"
        SUDO=(sudo)
    fi
    apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q)
    "${apt[@]}" update
    if [[ " $os_id $os_like " == *" ubuntu "* && " ${missing[*]} " == *" chromium "* ]]; then
        # Ubuntu's chromium is a snap shim that fails where snapd does not run: try it apart.
        rest=()
        for pkg in "${missing[@]}"; do [[ "$pkg" == chromium ]] || rest+=("$pkg"); done
        if ((${#rest[@]})); then "${apt[@]}" install --no-install-recommends "${rest[@]}"; fi
        "${apt[@]}" install --no-install-recommends chromium \
            || say "WARNING: 'apt-get install chromium' failed (Ubuntu ships it as a snap)."
    else
        "${apt[@]}" install --no-install-recommends "${missing[@]}"
    fi
fi

if [[ ! -x "$CHROMIUM_BIN" && -z "${BROWSER_EXECUTABLE:-}" ]]; then
    if [[ " $os_id $os_like " == *" ubuntu "* ]]; then
        say "WARNING: $CHROMIUM_BIN is missing: Ubuntu's 'chromium' package is only a snap shim."
    else
        say "WARNING: $CHROMIUM_BIN is missing."
    fi
    say "WARNING: set BROWSER_EXECUTABLE to a Chromium/Chrome binary to run browser tasks."
fi

# --- Python virtualenv ----------------------------------------------------------------
version_ok='import sys; sys.exit(sys.version_info < (3, 11))'
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "$version_ok" 2>/dev/null; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install python3 >= 3.11"
    "$PYTHON" -c "$version_ok" || die "Python >= 3.11 is required, $PYTHON is \
$("$PYTHON" -c 'import platform; print(platform.python_version())'); set PYTHON=/path/to/python3.11+"
    say "creating virtualenv .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear "$VENV"
fi

want="$(cat requirements-dev.txt requirements.txt worker/requirements.txt | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
    say "installing Python requirements into .venv"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
    echo "$want" >"$STAMP"
fi

say "ready"
