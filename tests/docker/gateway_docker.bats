#!/usr/bin/env bats
# gateway-docker.sh: argument handling and error paths, with a fake or missing docker.

load helpers

setup() {
    common_setup
    SCRIPT="$REPO/gateway-docker.sh"
}

@test "help prints the usage and exits 0" {
    run "$SCRIPT" help
    [ "$status" -eq 0 ]
    [[ "$output" == *"Usage: gateway-docker.sh <command>"* ]]
    [[ "$output" == *"cleanup [-y]"* ]]
}

@test "no command prints the usage and exits 2" {
    run "$SCRIPT"
    [ "$status" -eq 2 ]
    [[ "$output" == *"no command given"* ]]
    [[ "$output" == *"Usage:"* ]]
}

@test "an unknown command prints the usage and exits 2" {
    run "$SCRIPT" deploy
    [ "$status" -eq 2 ]
    [[ "$output" == *"unknown command 'deploy'"* ]]
    [[ "$output" == *"Usage:"* ]]
}

@test "extra arguments to start exit 2" {
    run "$SCRIPT" start now
    [ "$status" -eq 2 ]
    [[ "$output" == *"'start' takes no arguments"* ]]
}

@test "logs accepts only -f" {
    run "$SCRIPT" logs --since 1h
    [ "$status" -eq 2 ]
    [[ "$output" == *"logs takes only -f"* ]]
}

@test "cleanup accepts only -y" {
    run "$SCRIPT" cleanup --force
    [ "$status" -eq 2 ]
    [[ "$output" == *"cleanup takes only -y"* ]]
}

@test "a non-numeric HEALTH_TIMEOUT exits 2" {
    HEALTH_TIMEOUT=soon run "$SCRIPT" status
    [ "$status" -eq 2 ]
    [[ "$output" == *"HEALTH_TIMEOUT must be a number"* ]]
}

@test "missing docker gives a clear error and exits 1" {
    PATH="$EMPTY_BIN" run /bin/bash "$SCRIPT" status
    [ "$status" -eq 1 ]
    [[ "$output" == *"docker CLI not found in PATH"* ]]
}

@test "missing Compose v2 gives a clear error and exits 1" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" FAKE_COMPOSE=fail run "$SCRIPT" status
    [ "$status" -eq 1 ]
    [[ "$output" == *"Docker Compose v2 ('docker compose') not found"* ]]
}

@test "an unreachable engine gives a clear error and exits 1" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" FAKE_INFO=fail DOCKER_HOST=unix:///nowhere.sock run "$SCRIPT" build
    [ "$status" -eq 1 ]
    [[ "$output" == *"cannot reach the Docker engine at unix:///nowhere.sock"* ]]
}

@test "a missing compose file is named" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" COMPOSE_FILES=no-such-file.yml run "$SCRIPT" build
    [ "$status" -eq 1 ]
    [[ "$output" == *"compose file not found: $REPO/no-such-file.yml"* ]]
}

@test "works from any directory and appends COMPOSE_OVERRIDE" {
    fake_docker
    cd "$BATS_TEST_TMPDIR"
    PATH="$FAKE_BIN:$PATH" COMPOSE_OVERRIDE=docker-compose.ci.yml run "$SCRIPT" build
    [ "$status" -eq 0 ]
    grep -qx "compose -f $REPO/docker-compose.gateway.yml -f $REPO/docker-compose.ci.yml build gateway" "$FAKE_LOG"
}

@test "COMPOSE_FILES takes a colon-separated list" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" COMPOSE_FILES=docker-compose.gateway.yml:docker-compose.ci.yml run "$SCRIPT" stop
    [ "$status" -eq 0 ]
    grep -qx "compose -f $REPO/docker-compose.gateway.yml -f $REPO/docker-compose.ci.yml --profile \* down --remove-orphans" "$FAKE_LOG"
}

@test "status exits 3 when no gateway container exists" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" run "$SCRIPT" status
    [ "$status" -eq 3 ]
    [[ "$output" == *"no gateway container"* ]]
}

@test "restart refuses when the gateway is not running" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" run "$SCRIPT" restart
    [ "$status" -eq 1 ]
    [[ "$output" == *"the gateway is not running"* ]]
}

@test "output has no colour codes when not on a terminal" {
    run "$SCRIPT" deploy
    [[ "$output" != *$'\e['* ]]
}

@test "on a terminal, colours are used unless NO_COLOR is set" {
    command -v script >/dev/null || skip "script(1) not installed"
    run script -qec "$SCRIPT deploy" /dev/null
    [[ "$output" == *$'\e[31m'* ]]
    run script -qec "NO_COLOR=1 $SCRIPT deploy" /dev/null
    [[ "$output" == *"unknown command"* ]]
    [[ "$output" != *$'\e['* ]]
}

# A fake docker whose gateway container goes through the states listed in $FAKE_STATES, one
# "state health restart-count" line per `docker inspect` (the last line repeats). `compose ps`
# for the gateway service names a container; for the whole project it prints $FAKE_LEFT.
fake_docker_states() {
    fake_docker
    cat >"$FAKE_BIN/docker" <<'FAKE'
#!/bin/bash
printf '%s\n' "$*" >>"$FAKE_LOG"
[[ "$1" == compose ]] && printf 'GATEWAY_NOFILE=%s\n' "${GATEWAY_NOFILE:-}" >>"$FAKE_LOG"
case "$1" in
    inspect)
        line="$(head -n 1 "$FAKE_STATES")"
        if (($(wc -l <"$FAKE_STATES") > 1)); then sed -i 1d "$FAKE_STATES"; fi
        printf '%s\n' "$line"
        ;;
    compose)
        [[ "$2" == version ]] && echo "Docker Compose version v2.99.0"
        if [[ " $* " == *" ps --all --quiet gateway "* ]]; then
            echo 0123456789abcdef
        elif [[ " $* " == *" ps --all --quiet "* ]]; then
            printf '%s' "${FAKE_LEFT:-}"
        fi
        ;;
esac
exit 0
FAKE
    chmod +x "$FAKE_BIN/docker"
    FAKE_STATES="$BATS_TEST_TMPDIR/states"
    export FAKE_STATES
}

@test "start waits through Docker restarting the container, whatever its past restarts" {
    fake_docker_states
    printf '%s\n' "restarting unhealthy 5" "running starting 6" "running healthy 6" >"$FAKE_STATES"
    PATH="$FAKE_BIN:$PATH" HEALTH_POLL=0.01 run "$SCRIPT" start
    [ "$status" -eq 0 ]
    [[ "$output" == *"gateway is healthy"* ]]
    [[ "$output" != *"stopped"* ]]
}

@test "a restart loop fails start, and start stops the containers it left restarting" {
    fake_docker_states
    printf '%s\n' "restarting starting 2" "running starting 3" "restarting starting 4" \
        "restarting starting 5" >"$FAKE_STATES"
    PATH="$FAKE_BIN:$PATH" HEALTH_POLL=0.01 run "$SCRIPT" start
    [ "$status" -eq 1 ]
    [[ "$output" == *"keeps restarting (3 restarts while waiting)"* ]]
    grep -qx "compose -f $REPO/docker-compose.gateway.yml --profile \* stop" "$FAKE_LOG"
}

@test "an exited container fails start and is not left behind running" {
    fake_docker_states
    printf '%s\n' "exited none 0" >"$FAKE_STATES"
    PATH="$FAKE_BIN:$PATH" HEALTH_POLL=0.01 run "$SCRIPT" start
    [ "$status" -eq 1 ]
    [[ "$output" == *"the gateway container stopped (state=exited)"* ]]
    grep -q -- "--profile \* stop" "$FAKE_LOG"
}

@test "stop and cleanup act on every profile and fail if a container remains" {
    fake_docker_states
    PATH="$FAKE_BIN:$PATH" run "$SCRIPT" stop
    [ "$status" -eq 0 ]
    [[ "$output" == *"stopped"* ]]
    PATH="$FAKE_BIN:$PATH" COMPOSE_PROFILES= FAKE_LEFT=feedc0ffee run "$SCRIPT" cleanup -y
    [ "$status" -eq 1 ]
    [[ "$output" == *"containers still present after 'cleanup': feedc0ffee"* ]]
    [[ "$output" != *"cleaned up"* ]]
    grep -q -- "--profile \* down --volumes --remove-orphans" "$FAKE_LOG"
}

@test "start asks for no more open files than this shell's hard limit" {
    fake_docker_states
    printf '%s\n' "running healthy 0" >"$FAKE_STATES"
    PATH="$FAKE_BIN:$PATH" HEALTH_POLL=0.01 run bash -c "ulimit -Hn 20000; '$SCRIPT' start"
    [ "$status" -eq 0 ]
    grep -q "^GATEWAY_NOFILE=20000$" "$FAKE_LOG"
    : >"$FAKE_LOG"
    PATH="$FAKE_BIN:$PATH" HEALTH_POLL=0.01 GATEWAY_NOFILE=4096 run bash -c "ulimit -Hn 20000; '$SCRIPT' start"
    grep -q "^GATEWAY_NOFILE=4096$" "$FAKE_LOG"
    ! grep -q "^GATEWAY_NOFILE=20000$" "$FAKE_LOG"
}
