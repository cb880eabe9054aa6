# shellcheck shell=bash
# Shared start of the Docker end-to-end test scripts (test_docker_gateway.sh,
# test_docker_cluster.sh): argument handling, colours, reporting helpers and the checks
# that Docker, Compose, the engine and a Python with the SDK are there. The caller sets
# SCRIPT_PATH and SCRIPT_DIR, then sources this file with its own arguments.
# shellcheck disable=SC2034  # the colours are used by the scripts that source this file

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SCRIPT_PATH"; }

case "${1:-}" in
    "") ;;
    help | -h | --help)
        usage
        exit 0
        ;;
    *)
        printf 'error: unknown argument %s\n\n' "$1" >&2
        usage >&2
        exit 2
        ;;
esac

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    C_RED=$'\e[31m' C_GREEN=$'\e[32m' C_YELLOW=$'\e[33m' C_BOLD=$'\e[1m' C_OFF=$'\e[0m'
else
    C_RED="" C_GREEN="" C_YELLOW="" C_BOLD="" C_OFF=""
fi
readonly C_RED C_GREEN C_YELLOW C_BOLD C_OFF

die() {
    printf '%serror:%s %s\n' "$C_RED" "$C_OFF" "$*" >&2
    exit 1
}
note() { printf '  %s\n' "$*"; }
pass() { printf '  %sok:%s %s\n' "$C_GREEN" "$C_OFF" "$*"; }
fail() {
    printf '  %sFAILED:%s %s\n' "$C_RED" "$C_OFF" "$*" >&2
    return 1
}

cd "$SCRIPT_DIR" || exit 1
PYTHON="${PYTHON:-$SCRIPT_DIR/.venv/bin/python}"
command -v docker >/dev/null 2>&1 || die "docker CLI not found in PATH"
docker compose version >/dev/null 2>&1 || die "Docker Compose v2 ('docker compose') not found"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine${DOCKER_HOST:+ at $DOCKER_HOST}"
[[ -x "$PYTHON" ]] || die "no Python with the SDK at $PYTHON (run 'make install' or set PYTHON)"

# Open files: the compose files ask for GATEWAY_NOFILE (default 65536), and a container may not
# raise its limit above the engine's own. An engine started by hand inherits this shell's hard
# limit (20,000 on some hosts), so ask for no more than that (as scripts/ci/docker-checks.sh).
adapt_nofile() {
    local hard
    hard="$(ulimit -Hn)"
    if [[ -z "${GATEWAY_NOFILE:-}" && "$hard" != unlimited ]] && ((hard < 65536)); then
        export GATEWAY_NOFILE="$hard"
        note "open files: GATEWAY_NOFILE=$hard (this shell's hard limit; the compose default is 65536)"
    fi
}

# Scenarios: the caller fills NAMES (index 0 empty, then one name per scenario) and defines
# scenario_1, scenario_2, ...; each runs in a subshell with `set -e`, so its first failing
# assertion fails it alone. The summary that follows is not counted as a scenario.
RESULTS=()

run_scenario() {
    local n="$1" rc
    printf '\n%s== [%d/%d] %s%s\n' "$C_BOLD" "$n" "$((${#NAMES[@]} - 1))" "${NAMES[$n]}" "$C_OFF"
    set +e
    (
        set -euo pipefail
        "scenario_$n"
    )
    rc=$?
    set -e
    if ((rc == 0)); then RESULTS[n]=PASS; else RESULTS[n]=FAIL; fi
}

skip_scenario() {
    printf '\n%s== [%d/%d] %s%s\n  skipped: %s\n' "$C_BOLD" "$1" "$((${#NAMES[@]} - 1))" "${NAMES[$1]}" \
        "$C_OFF" "$2"
    RESULTS[$1]=SKIP
}

# After the scenarios: one line per scenario, then "N passed, M failed, K skipped"; fails if
# any failed. A scenario that did not run (its prerequisite failed, or KEEP=1) is skipped,
# not failed: the failure that caused it is counted once, where it happened.
summarize() {
    local total=${#NAMES[@]} passed=0 failed=0 skipped=0 n colour
    printf '\n%s== summary of %d scenarios%s (%ds)\n' "$C_BOLD" "$((total - 1))" "$C_OFF" "$SECONDS"
    for ((n = 1; n < total; n++)); do
        case "${RESULTS[n]:-FAIL}" in
            PASS) colour="$C_GREEN" passed=$((passed + 1)) ;;
            SKIP) colour="$C_YELLOW" skipped=$((skipped + 1)) ;;
            *) colour="$C_RED" failed=$((failed + 1)) ;;
        esac
        printf '  %s%-4s%s  %d. %s\n' "$colour" "${RESULTS[n]:-FAIL}" "$C_OFF" "$n" "${NAMES[$n]}"
    done
    printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
    ((failed == 0))
}
