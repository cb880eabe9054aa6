#!/usr/bin/env bats
# test_docker_cluster.sh: argument handling and the checks it makes before touching Docker.

load helpers

setup() {
    common_setup
    SCRIPT="$REPO/test_docker_cluster.sh"
}

@test "help describes the scenarios and exits 0" {
    run "$SCRIPT" help
    [ "$status" -eq 0 ]
    [[ "$output" == *"(7) summary"* ]]
    [[ "$output" == *"docker-compose.cluster.ci.yml"* ]]
}

@test "an unknown argument prints the usage and exits 2" {
    run "$SCRIPT" --fast
    [ "$status" -eq 2 ]
    [[ "$output" == *"unknown argument --fast"* ]]
    [[ "$output" == *"End-to-end test"* ]]
}

@test "missing docker gives a clear error and exits 1" {
    PATH="$EMPTY_BIN" run /bin/bash "$SCRIPT"
    [ "$status" -eq 1 ]
    [[ "$output" == *"docker CLI not found in PATH"* ]]
}

@test "missing Compose v2 gives a clear error and exits 1" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" FAKE_COMPOSE=fail run "$SCRIPT"
    [ "$status" -eq 1 ]
    [[ "$output" == *"Docker Compose v2"* ]]
}

@test "a missing SDK Python gives a clear error and exits 1" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" PYTHON=/nonexistent/python run "$SCRIPT"
    [ "$status" -eq 1 ]
    [[ "$output" == *"no Python with the SDK at /nonexistent/python"* ]]
    # It stopped before starting anything.
    ! grep -q "compose.*up" "$FAKE_LOG"
}
