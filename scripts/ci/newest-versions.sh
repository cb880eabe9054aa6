#!/usr/bin/env bash
# What the newest releases would break: both packages (every extra; native/ gives the
# gateway's `native` extra) and the dev tools installed at the newest versions their bounds
# allow, WITHOUT requirements-dev.lock, into a venv of their own (.cache/newest-venv); then
# ruff, mypy --strict and the fast tests (protocol core, smoke, SDK units) run against them.
# It reports and never fails: a release that breaks something is a reason to fix the code or
# a bound, then run scripts/lock-dev.sh.
# Environment: NEWEST_VENV (default <repo>/.cache/newest-venv), PYTHON (default python3).
set -uo pipefail

SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
REPO_ROOT="$(cd "${SCRIPT_PATH%/*}/../.." && pwd)"
readonly REPO_ROOT
readonly NEWEST_VENV="${NEWEST_VENV:-$REPO_ROOT/.cache/newest-venv}"
readonly PYTHON="${PYTHON:-python3}"
cd "$REPO_ROOT" || exit 0

extras="$(sed -n '/^\[project.optional-dependencies\]/,/^\[/s/^\([a-z0-9_-]*\) *=.*/\1/p' \
    gateway/pyproject.toml | paste -sd, -)"
rm -rf "$NEWEST_VENV"
if ! { "$PYTHON" -m venv "$NEWEST_VENV" &&
    "$NEWEST_VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip &&
    "$NEWEST_VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade \
        -e ./sdk -e "./gateway[$extras]" ./native -r requirements-dev.txt; }; then
    echo "newest: the install itself failed (see above)"
    exit 0
fi

echo "== newest releases that differ from requirements-dev.lock =="
"$NEWEST_VENV/bin/pip" freeze --exclude-editable --exclude aiconexus-native \
    --disable-pip-version-check |
    grep -vxF -f <(grep '==' requirements-dev.lock) | sed 's/^/  /' || echo "  (none)"

declare -a broke=()
run() {
    local name="$1"
    shift
    echo "== $name =="
    if "$@"; then echo "-- $name: ok"; else broke+=("$name"); echo "-- $name: BROKEN"; fi
}
run "ruff check" "$NEWEST_VENV/bin/ruff" check .
run "ruff format" "$NEWEST_VENV/bin/ruff" format --check .
run "mypy --strict" "$NEWEST_VENV/bin/mypy"
run "fast tests" "$NEWEST_VENV/bin/python" -m pytest -q -p no:cacheprovider \
    tests/protocol tests/smoke tests/sdk/test_dispatch.py tests/sdk/test_backoff.py

echo
if ((${#broke[@]})); then
    printf 'newest releases break: %s (the lock keeps make green; fix, then scripts/lock-dev.sh)\n' \
        "$(IFS=,; echo "${broke[*]}")"
else
    echo "newest releases break nothing checked here: scripts/lock-dev.sh may move the lock"
fi
exit 0
