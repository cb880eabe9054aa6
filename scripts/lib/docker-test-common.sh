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
