#!/usr/bin/env bash
# Bootstrap what `make up` and `make test` need on a fresh machine: system packages (when missing
# and we are root), uv, the virtualenv and the locked Python dependencies. Idempotent and quick
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

have_pg_server() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1; }

missing=()
have_pg_server || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
if [ "$(id -u)" = 0 ] && ! command -v runuser >/dev/null 2>&1; then missing+=(util-linux); fi
# Wanted, not required: Node.js and npm (the example JavaScript job; anvil and solc for the
# devchain come from npm), and for the container launcher
# podman with runc and debootstrap (to build the base image). Installed when we are root.
optional=()
command -v node >/dev/null 2>&1 || optional+=(nodejs)
command -v npm >/dev/null 2>&1 || optional+=(npm)
for tool in podman runc debootstrap; do command -v $tool >/dev/null 2>&1 || optional+=($tool); done
if [ ${#optional[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    missing+=("${optional[@]}")
  else
    echo "bootstrap: not installed (container jobs and the Node.js example need them): ${optional[*]}" >&2
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing system packages: ${missing[*]}" >&2
    echo "bootstrap: install them (Debian: sudo apt-get install ${missing[*]}) and re-run" >&2
    exit 1
  fi
fi

PYTHON=${CHAINLAKE_PYTHON:-$(command -v python3.11 || command -v python3)}
if ! command -v uv >/dev/null 2>&1 && ! "$PYTHON" -m uv --version >/dev/null 2>&1; then
  echo "bootstrap: installing uv"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check uv
fi
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=("$PYTHON" -m uv); fi

# The interpreter's real path: uv compares it with the virtualenv's, and a launcher shim
# (pyenv's, say) would never match, so every run would delete and rebuild .venv under the
# running stack's feet.
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)')
UV_PYTHON_DOWNLOADS=never "${UV[@]}" sync --frozen --quiet --python "$PYTHON"

# Node tools (anvil for the devchain, solc for its ERC-20), pinned by tools/package-lock.json.
# npm ci deletes node_modules first: run it only when the lock file's content changed.
if command -v npm >/dev/null 2>&1; then
  lock_sum=$(sha256sum tools/package-lock.json | cut -d' ' -f1)
  stamp=tools/node_modules/.chainlake-lock.sha256
  if [ ! -x tools/node_modules/.bin/anvil ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    echo "bootstrap: installing tools/ (npm ci)"
    npm ci --prefix tools --no-audit --no-fund --loglevel=error >/dev/null
    echo "$lock_sum" > "$stamp"
  fi
else
  echo "bootstrap: npm is missing: the devchain (anvil) is unavailable" >&2
fi
