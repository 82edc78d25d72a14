# Sourced by scripts/demo and scripts/test: makes .venv with the project and its tools, once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

apt_install() {
  command -v apt-get >/dev/null || return 1
  as_root apt-get update -qq && as_root apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@"
}

if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "provena-widgets needs Python 3.10 or newer as '$PYTHON_BIN' (set PYTHON=... to choose another)." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON_BIN" -m venv "$VENV" 2>/dev/null || {
    rm -rf "$VENV"
    apt_install python3-venv python3-pip >/dev/null
    "$PYTHON_BIN" -m venv "$VENV"
  }
fi
STAMP="$VENV/.installed-$(cat "$ROOT/pyproject.toml" | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "Installing provena-widgets and its tools into .venv (first run only)..."
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
