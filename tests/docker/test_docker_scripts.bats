#!/usr/bin/env bats
# test_docker_gateway.sh and test_docker_cluster.sh: argument handling and the checks they make
# (in scripts/lib/docker-test-common.sh) before touching Docker.

load helpers

setup() {
    common_setup
    SCRIPTS=("$REPO/test_docker_gateway.sh" "$REPO/test_docker_cluster.sh")
}

@test "help describes the scenarios and exits 0" {
    run "$REPO/test_docker_gateway.sh" help
    [ "$status" -eq 0 ]
    [[ "$output" == *"run the nine scenarios, then a summary"* ]]
    [[ "$output" == *"(8) the same with the"* && "$output" == *"SQLite"* ]]
    [[ "$output" == *"(9) a clean"* && "$output" != *"(10)"* ]]
    [[ "$output" == *"TEST_NETWORK"* ]]
    run "$REPO/test_docker_cluster.sh" help
    [ "$status" -eq 0 ]
    [[ "$output" == *"run the six scenarios, then a summary"* ]]
    [[ "$output" == *"(6) cleanup"* && "$output" != *"(7)"* ]]
    [[ "$output" == *"docker-compose.cluster.ci.yml"* ]]
}

@test "an unknown argument prints the usage and exits 2" {
    for script in "${SCRIPTS[@]}"; do
        run "$script" --fast
        [ "$status" -eq 2 ]
        [[ "$output" == *"unknown argument --fast"* ]]
        [[ "$output" == *"End-to-end test"* ]]
    done
}

@test "missing docker gives a clear error and exits 1" {
    for script in "${SCRIPTS[@]}"; do
        PATH="$EMPTY_BIN" run /bin/bash "$script"
        [ "$status" -eq 1 ]
        [[ "$output" == *"docker CLI not found in PATH"* ]]
    done
}

@test "missing Compose v2 gives a clear error and exits 1" {
    fake_docker
    for script in "${SCRIPTS[@]}"; do
        PATH="$FAKE_BIN:$PATH" FAKE_COMPOSE=fail run "$script"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Docker Compose v2"* ]]
    done
}

@test "a missing SDK Python gives a clear error and exits 1" {
    fake_docker
    for script in "${SCRIPTS[@]}"; do
        PATH="$FAKE_BIN:$PATH" PYTHON=/nonexistent/python run "$script"
        [ "$status" -eq 1 ]
        [[ "$output" == *"no Python with the SDK at /nonexistent/python"* ]]
        # It stopped before building or starting anything.
        ! grep -q "build\|compose.*up" "$FAKE_LOG"
    done
}

@test "a bad TEST_NETWORK exits 1 before any container work" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" TEST_NETWORK=overlay PYTHON="$(command -v python3)" run "$REPO/test_docker_gateway.sh"
    [ "$status" -eq 1 ]
    [[ "$output" == *"TEST_NETWORK must be host, bridge or auto"* ]]
    ! grep -q "compose.*up" "$FAKE_LOG"
}

# The shared library, sourced as the scripts source it (a fake docker, /bin/true as Python).
lib() {
    PATH="$FAKE_BIN:$PATH" PYTHON=/bin/true SCRIPT_PATH="$REPO/test_docker_gateway.sh" \
        SCRIPT_DIR="$REPO" bash -c "source '$REPO/scripts/lib/docker-test-common.sh'; $1"
}

@test "a skipped scenario is reported as skipped, not failed, and does not fail the run" {
    fake_docker
    run lib 'NAMES=("" one two three); scenario_1() { true; }; run_scenario 1
        skip_scenario 2 "KEEP=1"; scenario_3() { true; }; run_scenario 3; summarize'
    [ "$status" -eq 0 ]
    [[ "$output" == *"skipped: KEEP=1"* ]]
    [[ "$output" == *"2 passed, 0 failed, 1 skipped"* ]]
    run lib 'NAMES=("" one two); scenario_1() { false; }; run_scenario 1
        skip_scenario 2 "no image"; summarize'
    [ "$status" -eq 1 ]
    [[ "$output" == *"0 passed, 1 failed, 1 skipped"* ]]
}

@test "the open-file limit follows a hard limit below the compose default" {
    fake_docker
    run lib 'ulimit -Hn 20000; unset GATEWAY_NOFILE; adapt_nofile; echo "nofile=$GATEWAY_NOFILE"'
    [ "$status" -eq 0 ]
    [[ "$output" == *"nofile=20000"* ]]
    run lib 'ulimit -Hn 20000; GATEWAY_NOFILE=4096; adapt_nofile; echo "nofile=$GATEWAY_NOFILE"'
    [[ "$output" == *"nofile=4096"* ]]
    grep -q "^adapt_nofile" "$REPO/test_docker_gateway.sh"
    grep -q "^adapt_nofile" "$REPO/test_docker_cluster.sh"
}
