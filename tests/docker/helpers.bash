# Shared set-up for the bats tests of the Docker scripts.
# REPO: the repository root. FAKE_BIN: a directory put first in PATH by fake_docker.
# EMPTY_BIN: a directory with no programs at all, for "docker is missing" paths.

REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"

common_setup() {
    FAKE_BIN="$BATS_TEST_TMPDIR/bin"
    EMPTY_BIN="$BATS_TEST_TMPDIR/empty"
    FAKE_LOG="$BATS_TEST_TMPDIR/docker-calls.log"
    mkdir -p "$FAKE_BIN" "$EMPTY_BIN"
    : >"$FAKE_LOG"
    export FAKE_LOG
    unset DOCKER_HOST NO_COLOR COMPOSE_FILES COMPOSE_OVERRIDE GATEWAY_IMAGE HEALTH_TIMEOUT
}

# A fake `docker` that records its arguments in $FAKE_LOG. FAKE_COMPOSE=fail makes
# `docker compose version` fail; FAKE_INFO=fail makes `docker info` fail; FAKE_BRIDGE=none
# makes `docker network inspect bridge` fail (an engine started with --bridge=none).
fake_docker() {
    cat >"$FAKE_BIN/docker" <<'FAKE'
#!/bin/bash
printf '%s\n' "$*" >>"$FAKE_LOG"
case "$1 ${2:-}" in
    "compose version") [[ "${FAKE_COMPOSE:-ok}" == ok ]] || exit 1; echo "Docker Compose version v2.99.0" ;;
    "info "*) [[ "${FAKE_INFO:-ok}" == ok ]] || exit 1 ;;
    "network inspect") [[ "${FAKE_BRIDGE:-ok}" == ok ]] || exit 1 ;;
    "--version "*) echo "Docker version 99.0.0" ;;
esac
exit 0
FAKE
    chmod +x "$FAKE_BIN/docker"
}
