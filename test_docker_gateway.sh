#!/usr/bin/env bash
# End-to-end test of the Docker deployment of the gateway, on a real Docker engine.
#
#   ./test_docker_gateway.sh            run the nine scenarios, then a summary; exit 1 if any fails
#   ./test_docker_gateway.sh help
#
# Scenarios: (1) build the image; (2) start it with Compose (healthy, uid 1000); (3) /health
# and /agents; (4) the start-up log line, on stdout and in /logs; (5) two SDK clients register;
# (6) OFFER/ANSWER and EXEC_REQUEST/EXEC_RESPONSE; (7) restart: same gateway DID (key on the
# /data volume) and a message queued for an offline agent before the restart is delivered
# after it (offline store in the Redis service of the `redis` profile); (8) the same with the
# image's default store, SQLite on the /data volume; (9) a clean SIGTERM stop, then cleanup
# leaves no container, volume or image of the test behind. A summary with one line each
# follows: a scenario that could not run (its prerequisite failed) is "skipped", not "failed".
#
# Everything runs under its own Compose project name, image tag and free ports, so it does
# not touch a gateway you already run, and without the settings of an .env.gateway you keep
# here (the test gives the gateway its own environment). Environment:
#   TEST_NETWORK   host | bridge | auto (default): host adds docker-compose.ci.yml (host
#                  networking, 127.0.0.1 only); auto picks host when the engine has no
#                  bridge network (as in CI)
#   PYTHON         Python with the SDK installed (default: .venv/bin/python)
#   GATEWAY_NOFILE open files of the gateway container (default: 65536, or this shell's hard
#                  limit when lower: an engine started from it allows no more)
#   KEEP=1         leave the stack running at the end (for debugging)
#   HEALTH_TIMEOUT seconds to wait for health (default 90)
set -euo pipefail

SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
SCRIPT_DIR="$(cd "${SCRIPT_PATH%/*}" && pwd)"
readonly SCRIPT_DIR

# shellcheck source=scripts/lib/docker-test-common.sh
source "$SCRIPT_DIR/scripts/lib/docker-test-common.sh" "$@"

free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

adapt_nofile

TEST_NETWORK="${TEST_NETWORK:-auto}"
if [[ "$TEST_NETWORK" == auto ]]; then
    if docker network inspect bridge >/dev/null 2>&1; then TEST_NETWORK=bridge; else TEST_NETWORK=host; fi
fi
[[ "$TEST_NETWORK" == host || "$TEST_NETWORK" == bridge ]] || die "TEST_NETWORK must be host, bridge or auto"

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/aiconexus-docker-test.XXXXXX")"
readonly WORK_DIR
RUN_ID="$$-$RANDOM"
export COMPOSE_PROJECT_NAME="aiconexus-gw-test-${RUN_ID}"
export GATEWAY_IMAGE="aiconexus-gateway:test-${RUN_ID}"
export COMPOSE_PROFILES=redis
export HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-90}"
export NO_COLOR="${NO_COLOR:-}"
GATEWAY_PORT="$(free_port)"
REDIS_PORT="$(free_port)"
while [[ "$REDIS_PORT" == "$GATEWAY_PORT" ]]; do REDIS_PORT="$(free_port)"; done
export GATEWAY_PORT GATEWAY_PUBLISH_PORT="$GATEWAY_PORT" REDIS_PORT

# The test's own override: Redis as the gateway's store, so that stored messages outlive a
# restart of the gateway container (the in-memory store does not).
if [[ "$TEST_NETWORK" == host ]]; then
    export REDIS_IMAGE="aiconexus-redis-ci:test-${RUN_ID}"
    redis_url="redis://127.0.0.1:${REDIS_PORT}/0"
    compose_files="docker-compose.gateway.yml:docker-compose.ci.yml"
else
    redis_url="redis://redis:6379/0"
    compose_files="docker-compose.gateway.yml"
fi
cat >"$WORK_DIR/test-override.yml" <<EOF
services:
  gateway:
    env_file: !reset []
    environment:
      STORAGE_TYPE: redis
      REDIS_URL: "$redis_url"
    depends_on:
      redis:
        condition: service_healthy
EOF
if [[ "$TEST_NETWORK" == bridge ]]; then
    # Published on the loopback interface only.
    cat >>"$WORK_DIR/test-override.yml" <<EOF
    ports: !override
      - "127.0.0.1:$GATEWAY_PORT:$GATEWAY_PORT"
EOF
fi
export COMPOSE_FILES="$compose_files:$WORK_DIR/test-override.yml"
unset COMPOSE_OVERRIDE

gw() { "$SCRIPT_DIR/gateway-docker.sh" "$@"; }
compose() {
    local -a args=()
    local file
    IFS=: read -r -a files <<<"$COMPOSE_FILES"
    for file in "${files[@]}"; do args+=(-f "$file"); done
    docker compose "${args[@]}" "$@"
}
gateway_id() { compose ps --all --quiet gateway | head -n 1; }
smoke() { "$PYTHON" "$SCRIPT_DIR/scripts/docker_smoke_client.py" "$@" --port "$GATEWAY_PORT"; }

cleanup_on_exit() {
    local rc=$?
    if [[ "${KEEP:-0}" == 1 ]]; then
        note "KEEP=1: project $COMPOSE_PROJECT_NAME left running on port $GATEWAY_PORT"
    elif [[ -n "$(compose ps --all --quiet 2>/dev/null)" ]] ||
        docker image inspect "$GATEWAY_IMAGE" >/dev/null 2>&1; then
        note "removing what the test left behind"
        gw cleanup -y >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK_DIR"
    exit "$rc"
}
trap cleanup_on_exit EXIT
trap 'exit 130' INT TERM

# ---- scenarios: each runs in a subshell with errexit on; state goes through $WORK_DIR

scenario_1() {
    local started=$SECONDS
    gw build
    docker image inspect "$GATEWAY_IMAGE" >/dev/null || fail "image $GATEWAY_IMAGE missing"
    pass "built $GATEWAY_IMAGE in $((SECONDS - started))s"
    local size user
    size="$(docker image inspect --format '{{.Size}}' "$GATEWAY_IMAGE")"
    user="$(docker image inspect --format '{{.Config.User}}' "$GATEWAY_IMAGE")"
    note "image size: $((size / 1000000)) MB"
    [[ "$user" == 1000:1000 ]] || fail "image user is '$user', expected 1000:1000"
    pass "image runs as 1000:1000"
    if docker run --rm --network none --entrypoint sh "$GATEWAY_IMAGE" -c 'command -v pip' >/dev/null; then
        fail "pip is present in the final image"
    fi
    pass "no pip in the final image"
}

scenario_2() {
    note "network: $TEST_NETWORK, gateway port $GATEWAY_PORT, redis port $REDIS_PORT"
    gw start
    local id state health uid
    id="$(gateway_id)"
    [[ -n "$id" ]] || fail "no gateway container"
    state="$(docker inspect --format '{{.State.Status}}' "$id")"
    health="$(docker inspect --format '{{.State.Health.Status}}' "$id")"
    [[ "$state" == running ]] || fail "container state is $state"
    [[ "$health" == healthy ]] || fail "docker reports health '$health'"
    pass "container ${id:0:12} running, docker health: $health"
    uid="$(docker exec "$id" id -u)"
    [[ "$uid" == 1000 ]] || fail "gateway process runs as uid $uid"
    pass "gateway runs as uid 1000 ($(docker exec "$id" id -un))"
}

scenario_3() {
    local did
    smoke health | tee "$WORK_DIR/health.out"
    did="$(tail -n 1 "$WORK_DIR/health.out")"
    printf '%s\n' "$did" >"$WORK_DIR/did-before"
    smoke agents
    gw health >/dev/null || fail "./gateway-docker.sh health failed"
    pass "./gateway-docker.sh health agrees"
}

scenario_4() {
    local id
    gw logs >"$WORK_DIR/logs.txt" 2>&1
    grep -E 'listening url=ws://' "$WORK_DIR/logs.txt" ||
        fail "no start-up line in the container logs"
    pass "start-up line in 'docker compose logs'"
    id="$(gateway_id)"
    docker exec "$id" cat /logs/gateway.log | grep -qE 'listening url=ws://' ||
        fail "no start-up line in /logs/gateway.log"
    pass "start-up line in /logs/gateway.log (LOG_FILE on the logs volume)"
    docker exec "$id" test -s /data/gateway.key || fail "no key file at /data/gateway.key"
    pass "gateway key kept at /data/gateway.key"
}

scenario_5() { smoke register; }

scenario_6() { smoke exchange; }

scenario_7() {
    local did_before did_after
    smoke store --state "$WORK_DIR/stored.json"
    gw restart
    did_before="$(<"$WORK_DIR/did-before")"
    did_after="$(smoke health | tail -n 1)"
    [[ "$did_after" == "$did_before" ]] || fail "gateway DID changed: $did_before -> $did_after"
    pass "gateway DID unchanged across the restart: ${did_after:0:32}..."
    smoke fetch --state "$WORK_DIR/stored.json"
    pass "message queued before the restart was delivered after it"
}

scenario_8() {
    local did_before did_after
    # The image's own default: the test's environment without STORAGE_TYPE and REDIS_URL,
    # so SQLite at /data/gateway.db (`!override`: Compose merges environment maps otherwise).
    {
        printf '%s\n' "services:" "  gateway:" "    environment: !override" \
            '      PYTHONUNBUFFERED: "1"' '      LOG_LEVEL: INFO' \
            "      GATEWAY_PORT: \"$GATEWAY_PORT\""
        [[ "$TEST_NETWORK" == bridge ]] || printf '%s\n' "      GATEWAY_HOST: 127.0.0.1"
    } >"$WORK_DIR/sqlite-override.yml"
    export COMPOSE_FILES="$COMPOSE_FILES:$WORK_DIR/sqlite-override.yml"
    compose up -d --wait --wait-timeout "$HEALTH_TIMEOUT" gateway
    did_before="$(smoke health --backend sqlite | tail -n 1)"
    pass "gateway recreated with the image's default store (/health backend: sqlite)"
    smoke store --state "$WORK_DIR/stored-sqlite.json"
    gw restart
    did_after="$(smoke health --backend sqlite | tail -n 1)"
    [[ "$did_after" == "$did_before" ]] || fail "gateway DID changed: $did_before -> $did_after"
    smoke fetch --state "$WORK_DIR/stored-sqlite.json"
    docker exec "$(gateway_id)" test -s /data/gateway.db || fail "no /data/gateway.db"
    pass "message stored in SQLite before the restart was delivered after it"
}

scenario_9() {
    local id started elapsed exit_code leftover problems=0
    id="$(gateway_id)"
    if [[ -n "$id" ]]; then
        started=$(date +%s%N)
        compose stop gateway >/dev/null 2>&1
        elapsed=$((($(date +%s%N) - started) / 1000000))
        exit_code="$(docker inspect --format '{{.State.ExitCode}}' "$id")"
        note "stop took ${elapsed} ms"
        if [[ "$exit_code" == 0 ]]; then
            pass "gateway exited 0 on SIGTERM"
        else
            fail "gateway exit code $exit_code on SIGTERM (137: killed after the grace period)" ||
                problems=$((problems + 1))
        fi
    fi
    gw cleanup -y
    leftover="$(docker ps --all --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
    [[ -z "$leftover" ]] || fail "containers left: $leftover"
    leftover="$(docker volume ls --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
    [[ -z "$leftover" ]] || fail "volumes left: $leftover"
    leftover="$(docker network ls --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
    [[ -z "$leftover" ]] || fail "networks left: $leftover"
    ! docker image inspect "$GATEWAY_IMAGE" >/dev/null 2>&1 || fail "image $GATEWAY_IMAGE left"
    if [[ -n "${REDIS_IMAGE:-}" ]] && docker image inspect "$REDIS_IMAGE" >/dev/null 2>&1; then
        fail "image $REDIS_IMAGE left"
    fi
    leftover="$(docker image ls --quiet --filter dangling=true \
        --filter label=io.aiconexus.project=aiconexus-gateway)"
    [[ -z "$leftover" ]] || fail "build-stage images left: $leftover"
    pass "no container, volume, network or image of the test left"
    ((problems == 0))
}

NAMES=(
    ""
    "build the image"
    "start with Docker Compose"
    "/health and /agents"
    "start-up line in the logs"
    "two SDK clients connect and register"
    "OFFER/ANSWER and EXEC_REQUEST/EXEC_RESPONSE"
    "restart: same DID, stored message delivered (Redis)"
    "restart: stored message delivered (SQLite, the image's default)"
    "clean stop and cleanup"
)
run_scenario 1
if [[ "${RESULTS[1]}" == PASS ]]; then run_scenario 2; else skip_scenario 2 "no image"; fi
for n in 3 4 5 6 7 8; do
    if [[ "${RESULTS[2]}" == PASS ]]; then
        run_scenario "$n"
    else
        skip_scenario "$n" "the gateway did not start"
    fi
done
if [[ "${RESULTS[1]}" == PASS && "${KEEP:-0}" != 1 ]]; then
    run_scenario 9
elif [[ "${KEEP:-0}" == 1 ]]; then
    skip_scenario 9 "KEEP=1"
else
    skip_scenario 9 "nothing to clean up"
fi

# ---- summary
summarize
