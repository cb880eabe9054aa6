#!/usr/bin/env bash
# The lower bounds of sdk/pyproject.toml and gateway/pyproject.toml, checked: both packages are
# installed into a separate venv with the LOWEST version of each direct dependency that the
# bounds allow (uv's --resolution lowest-direct), then the smoke tests (tests/smoke: the
# gateway process starts, the SDK connects, handshake, send/ACK, reconnect, a clean stop on
# memory and Redis) and the tests of the gateway's HTTP and WebSocket protocols over uvicorn,
# httptools and websockets (test_ws_protocol_interface, test_http_protocol) run against them.
# A bound that is not true (a feature used that its lowest version lacks) fails here.
#
# uv is taken from PATH, else installed with pip into a venv of its own (UV_TOOLS_VENV).
# Environment: LOWEST_VENV (default <repo>/.cache/lowest-venv), UV_TOOLS_VENV (default
# <repo>/.cache/uv-tools), PYTHON (the interpreter of both venvs, default python3).
set -euo pipefail

SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
REPO_ROOT="$(cd "${SCRIPT_PATH%/*}/../.." && pwd)"
readonly REPO_ROOT
readonly LOWEST_VENV="${LOWEST_VENV:-$REPO_ROOT/.cache/lowest-venv}"
readonly UV_TOOLS_VENV="${UV_TOOLS_VENV:-$REPO_ROOT/.cache/uv-tools}"
readonly PYTHON="${PYTHON:-python3}"

if [[ $# -gt 0 ]]; then
    printf 'Usage: %s   (takes no arguments)\n' "${0##*/}" >&2
    exit 2
fi

uv="$(command -v uv || true)"
if [[ -z "$uv" ]]; then
    if [[ ! -x "$UV_TOOLS_VENV/bin/uv" ]]; then
        "$PYTHON" -m venv "$UV_TOOLS_VENV"
        "$UV_TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check uv
    fi
    uv="$UV_TOOLS_VENV/bin/uv"
fi

cd "$REPO_ROOT"
rm -rf "$LOWEST_VENV"
"$uv" venv --quiet --python "$PYTHON" "$LOWEST_VENV"
export VIRTUAL_ENV="$LOWEST_VENV"
# The test tools at the versions requirements-dev.txt allows (newest), on their own...
mapfile -t tools < <(grep -E '^(pytest|pytest-asyncio|pytest-timeout)[<>=! ]' requirements-dev.txt |
    sed -e 's/[[:space:]]*#.*//')
"$uv" pip install --quiet "${tools[@]}"
# ...then the two packages, every direct dependency at its lowest allowed version.
"$uv" pip install --quiet --resolution lowest-direct ./sdk "./gateway[redis]"
echo "lowest allowed versions installed:"
"$uv" pip list 2>/dev/null |
    grep -Ei '^(fastapi|uvicorn|httptools|websockets|pydantic|pynacl|orjson|httpx|structlog|prometheus.client|redis) ' |
    sed 's/^/  /'
"$LOWEST_VENV/bin/python" -m pytest -q -p no:cacheprovider \
    tests/smoke tests/gateway/test_ws_protocol_interface.py tests/gateway/test_http_protocol.py
