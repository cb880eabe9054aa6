#!/usr/bin/env bats
# scripts/ci/docker-engine.sh, base-image.sh, docker-checks.sh and scripts/lock-deps.sh:
# argument handling and error paths that need no engine.

load helpers

setup() {
    common_setup
    export DOCKER_ENGINE_DIR="$BATS_TEST_TMPDIR/engine"
}

@test "docker-engine.sh: unknown command prints the usage and exits 2" {
    run "$REPO/scripts/ci/docker-engine.sh" launch
    [ "$status" -eq 2 ]
    [[ "$output" == *"Usage: docker-engine.sh start|stop"* ]]
}

@test "docker-engine.sh: stop takes only --purge" {
    run "$REPO/scripts/ci/docker-engine.sh" stop --force
    [ "$status" -eq 2 ]
}

@test "docker-engine.sh: status is 1 and stop is harmless when no engine runs" {
    run "$REPO/scripts/ci/docker-engine.sh" status
    [ "$status" -eq 1 ]
    run "$REPO/scripts/ci/docker-engine.sh" stop
    [ "$status" -eq 0 ]
    [[ "$output" == *"not running"* ]]
}

@test "docker-engine.sh: a stale pidfile is not taken for a running engine" {
    mkdir -p "$DOCKER_ENGINE_DIR"
    echo 999999999 >"$DOCKER_ENGINE_DIR/dockerd.pid"
    run "$REPO/scripts/ci/docker-engine.sh" status
    [ "$status" -eq 1 ]
}

@test "docker-engine.sh: env names the socket in DOCKER_ENGINE_DIR" {
    run "$REPO/scripts/ci/docker-engine.sh" env
    [ "$status" -eq 0 ]
    [ "$output" = "export DOCKER_HOST=unix://$DOCKER_ENGINE_DIR/docker.sock" ]
}

@test "docker-engine.sh: without dockerd and apt-get, start fails clearly" {
    PATH="$EMPTY_BIN" run /bin/bash "$REPO/scripts/ci/docker-engine.sh" start
    [ "$status" -eq 1 ]
    [[ "$output" == *"dockerd is missing and apt-get is not available"* ]]
}

@test "docker-engine.sh: stop --purge removes the state directory" {
    mkdir -p "$DOCKER_ENGINE_DIR/data"
    run "$REPO/scripts/ci/docker-engine.sh" stop --purge
    [ "$status" -eq 0 ]
    [ ! -e "$DOCKER_ENGINE_DIR" ]
}

@test "base-image.sh: an argument exits 2, help exits 0" {
    run "$REPO/scripts/ci/base-image.sh" trixie
    [ "$status" -eq 2 ]
    run "$REPO/scripts/ci/base-image.sh" help
    [ "$status" -eq 0 ]
    [[ "$output" == *"python:3.13-slim"* ]]
}

@test "base-image.sh: missing docker or engine fails clearly" {
    PATH="$EMPTY_BIN" run /bin/bash "$REPO/scripts/ci/base-image.sh"
    [ "$status" -eq 1 ]
    [[ "$output" == *"docker CLI not found"* ]]
    fake_docker
    PATH="$FAKE_BIN:$PATH" FAKE_INFO=fail run "$REPO/scripts/ci/base-image.sh"
    [ "$status" -eq 1 ]
    [[ "$output" == *"cannot reach the Docker engine"* ]]
}

@test "base-image.sh: does nothing when the image exists" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" run "$REPO/scripts/ci/base-image.sh"
    [ "$status" -eq 0 ]
    [[ "$output" == *"exists; nothing to do"* ]]
    ! grep -q import "$FAKE_LOG"
}

@test "docker-checks.sh: an argument exits 2, help exits 0" {
    run "$REPO/scripts/ci/docker-checks.sh" --quick
    [ "$status" -eq 2 ]
    run "$REPO/scripts/ci/docker-checks.sh" help
    [ "$status" -eq 0 ]
    [[ "$output" == *"hadolint"* ]]
}

@test "lock-deps.sh: an argument exits 2; missing docker fails clearly" {
    run "$REPO/scripts/lock-deps.sh" --upgrade
    [ "$status" -eq 2 ]
    PATH="$EMPTY_BIN" run /bin/bash "$REPO/scripts/lock-deps.sh"
    [ "$status" -eq 1 ]
    [[ "$output" == *"docker CLI not found"* ]]
}
