#!/usr/bin/env bash
# End-to-end test of the Redis-backed cluster (docker-compose.cluster.yml) on a real Docker
# engine, with host networking (docker-compose.cluster.ci.yml): Redis, two gateway nodes
# sharing one key, nginx in front of them, everything on 127.0.0.1.
#
#   ./test_docker_cluster.sh            run the six scenarios, then a summary; exit 1 if any fails
#   ./test_docker_cluster.sh help
#
# Scenarios: (1) `up -d --build --wait`: all four containers healthy; (2) /health of both
# nodes: 200, backend redis, the same gateway DID; (3) two SDK clients register through
# nginx and /agents of both nodes lists them; (4) EXEC_REQUEST/EXEC_RESPONSE through nginx;
# (5) the node holding the clients' connections is killed: they reconnect through nginx to
# the other node, which lists them, and exchange again; (6) cleanup leaves no container,
# volume, network or image of the test behind. A summary with one line each follows.
#
# Everything runs under its own Compose project name, image tags and free ports, so it does
# not touch a cluster you already run. Needs the python:3.13-slim base image (or the local
# stand-in of scripts/ci/base-image.sh). Environment:
#   PYTHON         Python with the SDK installed (default: .venv/bin/python)
#   KEEP=1         leave the cluster running at the end (for debugging)
set -euo pipefail

SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
SCRIPT_DIR="$(cd "${SCRIPT_PATH%/*}" && pwd)"
readonly SCRIPT_DIR

# shellcheck source=scripts/lib/docker-test-common.sh
source "$SCRIPT_DIR/scripts/lib/docker-test-common.sh" "$@"
adapt_nofile

# Four distinct free ports on 127.0.0.1, from one process so that they cannot repeat.
read -r REDIS_PORT NODE1_PORT NODE2_PORT LB_PORT < <("$PYTHON" -c 'import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()')
export REDIS_PORT NODE1_PORT NODE2_PORT LB_PORT

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/aiconexus-cluster-test.XXXXXX")"
readonly WORK_DIR
RUN_ID="$$-$RANDOM"
export COMPOSE_PROJECT_NAME="aiconexus-cluster-test-${RUN_ID}"
export GATEWAY_IMAGE="aiconexus-gateway:cluster-test-${RUN_ID}"
export REDIS_IMAGE="aiconexus-redis-ci:cluster-test-${RUN_ID}"
export NGINX_IMAGE="aiconexus-nginx-ci:cluster-test-${RUN_ID}"
# A node that dies leaves the presence set quickly.
export PRESENCE_TTL="${PRESENCE_TTL:-5}"
readonly IMAGES=("$GATEWAY_IMAGE" "$REDIS_IMAGE" "$NGINX_IMAGE")

compose() { docker compose -f docker-compose.cluster.yml -f docker-compose.cluster.ci.yml "$@"; }
cluster() {
    "$PYTHON" "$SCRIPT_DIR/scripts/docker_cluster_client.py" "$@" \
        --lb-port "$LB_PORT" --node-port "$NODE1_PORT" --node-port "$NODE2_PORT"
}
container_of() { compose ps --all --quiet "$1" | head -n 1; }

remove_everything() {
    local -a present=()
    local image
    compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 || true
    for image in "${IMAGES[@]}"; do
        if docker image inspect "$image" >/dev/null 2>&1; then present+=("$image"); fi
    done
    if ((${#present[@]} > 0)); then docker image rm "${present[@]}" >/dev/null; fi
    # Untagged build-stage images of the project that the classic builder leaves behind.
    mapfile -t present < <(docker image ls --quiet --filter dangling=true \
        --filter label=io.aiconexus.project=aiconexus-gateway)
    if ((${#present[@]} > 0)); then docker image rm "${present[@]}" >/dev/null 2>&1 || true; fi
}

cleanup_on_exit() {
    local rc=$?
    if [[ "${KEEP:-0}" == 1 ]]; then
        note "KEEP=1: project $COMPOSE_PROJECT_NAME left running, nginx on port $LB_PORT"
    elif [[ -n "$(compose ps --all --quiet 2>/dev/null)" ]] ||
        docker image inspect "$GATEWAY_IMAGE" >/dev/null 2>&1; then
        note "removing what the test left behind"
        remove_everything || true
    fi
    rm -rf "$WORK_DIR"
    exit "$rc"
}
trap cleanup_on_exit EXIT
trap 'exit 130' INT TERM

# ---- scenarios: each runs in a subshell with errexit on; state goes through $WORK_DIR

scenario_1() {
    local started=$SECONDS service id state health
    note "ports: redis $REDIS_PORT, gateway-1 $NODE1_PORT, gateway-2 $NODE2_PORT, nginx $LB_PORT"
    if ! compose up -d --build --wait --wait-timeout 180 >"$WORK_DIR/up.log" 2>&1; then
        tail -n 40 "$WORK_DIR/up.log" >&2
        compose logs --no-color --tail 30 >&2 || true
        fail "docker compose up --wait failed"
    fi
    pass "up -d --build --wait in $((SECONDS - started))s"
    for service in redis gateway-1 gateway-2 lb; do
        id="$(container_of "$service")"
        [[ -n "$id" ]] || fail "no container for $service"
        state="$(docker inspect --format '{{.State.Status}}' "$id")"
        health="$(docker inspect --format '{{.State.Health.Status}}' "$id")"
        [[ "$state" == running && "$health" == healthy ]] ||
            fail "$service: state $state, health $health"
        pass "$service (${id:0:12}) running, docker health: $health"
    done
    [[ "$(docker inspect --format '{{.Config.Image}}' "$(container_of gateway-1)")" == "$GATEWAY_IMAGE" ]] ||
        fail "gateway-1 does not run $GATEWAY_IMAGE"
    pass "the nodes run the gateway image built from Dockerfile.gateway ($GATEWAY_IMAGE)"
}

scenario_2() {
    cluster nodes | tee "$WORK_DIR/nodes.out"
    local did key1 key2
    did="$(tail -n 1 "$WORK_DIR/nodes.out")"
    key1="$(docker exec "$(container_of gateway-1)" sha256sum /data/gateway.key)"
    key2="$(docker exec "$(container_of gateway-2)" sha256sum /data/gateway.key)"
    [[ "$key1" == "$key2" ]] || fail "the nodes read different key files"
    pass "both nodes read one key file from the shared volume (did ${did:0:32}...)"
}

scenario_3() { cluster register; }

scenario_4() { cluster exchange; }

scenario_5() {
    local id1 id2 id victim=""
    id1="$(container_of gateway-1)"
    id2="$(container_of gateway-2)"
    cluster failover --node "$NODE1_PORT=$id1" --node "$NODE2_PORT=$id2"
    for id in "$id1" "$id2"; do
        if [[ "$(docker inspect --format '{{.State.Status}}' "$id")" == exited ]]; then
            victim="$id"
        fi
    done
    [[ -n "$victim" ]] || fail "no gateway container is down after the kill"
    [[ "$(docker inspect --format '{{.State.ExitCode}}' "$victim")" == 137 ]] ||
        fail "the killed node did not exit with 137 (SIGKILL)"
    pass "node container ${victim:0:12} stayed down (exit 137); the cluster carried on"
}

scenario_6() {
    local leftover image
    remove_everything
    leftover="$(docker ps --all --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
    [[ -z "$leftover" ]] || fail "containers left: $leftover"
    leftover="$(docker volume ls --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
    [[ -z "$leftover" ]] || fail "volumes left: $leftover"
    leftover="$(docker network ls --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")"
    [[ -z "$leftover" ]] || fail "networks left: $leftover"
    for image in "${IMAGES[@]}"; do
        ! docker image inspect "$image" >/dev/null 2>&1 || fail "image $image left"
    done
    leftover="$(docker image ls --quiet --filter dangling=true \
        --filter label=io.aiconexus.project=aiconexus-gateway)"
    [[ -z "$leftover" ]] || fail "build-stage images left: $leftover"
    pass "no container, volume, network or image of the test left"
}

NAMES=(
    ""
    "up --build --wait: Redis, two nodes, nginx healthy"
    "both nodes: /health 200, backend redis, one gateway DID"
    "two SDK clients register through nginx; both nodes list them"
    "EXEC_REQUEST/EXEC_RESPONSE through nginx"
    "a node is killed: clients move to the other node and go on"
    "cleanup"
)
run_scenario 1
for n in 2 3 4 5; do
    if [[ "${RESULTS[1]}" == PASS ]]; then
        run_scenario "$n"
    else
        skip_scenario "$n" "the cluster did not start"
    fi
done
if [[ "${KEEP:-0}" != 1 ]]; then
    run_scenario 6
else
    skip_scenario 6 "KEEP=1"
fi

# ---- summary
summarize
