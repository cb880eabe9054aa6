#!/usr/bin/env bats
# verify_docker_setup.sh: required files, run bits, Docker checks, exit codes.

load helpers

setup() {
    common_setup
    # A copy of the files the script checks, so that tests can remove or break them.
    COPY="$BATS_TEST_TMPDIR/repo"
    mkdir -p "$COPY"
    (cd "$REPO" && tar -cf - Dockerfile.gateway .dockerignore docker-compose.gateway.yml \
        docker-compose.ci.yml .env.gateway.example DOCKER_GATEWAY.md gateway/requirements.lock \
        docker-compose.cluster.yml docker-compose.cluster.ci.yml deploy/nginx-cluster.conf \
        scripts/docker_smoke_client.py scripts/docker_cluster_client.py \
        sdk/pyproject.toml gateway/pyproject.toml deploy/k8s \
        gateway-docker.sh test_docker_gateway.sh test_docker_cluster.sh verify_docker_setup.sh scripts/ci \
        scripts/lock-deps.sh) | tar -xf - -C "$COPY"
}

@test "the repository passes and prints next steps" {
    run "$REPO/verify_docker_setup.sh"
    [ "$status" -eq 0 ]
    [[ "$output" == *"Setup complete"* ]]
    [[ "$output" == *"./gateway-docker.sh start"* ]]
}

@test "a missing required file fails with its name" {
    rm "$COPY/DOCKER_GATEWAY.md"
    run "$COPY/verify_docker_setup.sh"
    [ "$status" -eq 1 ]
    [[ "$output" == *"DOCKER_GATEWAY.md is missing or empty"* ]]
}

@test "a script without its run bit fails" {
    chmod -x "$COPY/gateway-docker.sh"
    run "$COPY/verify_docker_setup.sh"
    [ "$status" -eq 1 ]
    [[ "$output" == *"gateway-docker.sh is not executable"* ]]
}

@test "missing docker is a warning, unless REQUIRE_DOCKER=1" {
    PATH="$EMPTY_BIN" run /bin/bash "$COPY/verify_docker_setup.sh"
    [ "$status" -eq 0 ]
    [[ "$output" == *"docker CLI not found"* ]]
    PATH="$EMPTY_BIN" REQUIRE_DOCKER=1 run /bin/bash "$COPY/verify_docker_setup.sh"
    [ "$status" -eq 1 ]
    [[ "$output" == *"REQUIRE_DOCKER=1"* ]]
}

@test "an unknown argument exits 2" {
    run "$REPO/verify_docker_setup.sh" --all
    [ "$status" -eq 2 ]
    [[ "$output" == *"Usage: verify_docker_setup.sh"* ]]
}

@test "an engine without the default bridge: a warning naming the host-networking fix" {
    fake_docker
    PATH="$FAKE_BIN:$PATH" FAKE_BRIDGE=none run "$REPO/verify_docker_setup.sh"
    [ "$status" -eq 0 ]
    [[ "$output" == *"no default bridge network"* ]]
    [[ "$output" == *"network bridge not found"* ]]
    [[ "$output" == *"GATEWAY_PORT=8000 COMPOSE_OVERRIDE=docker-compose.ci.yml ./gateway-docker.sh build"* ]]
    grep -q "^network inspect bridge" "$FAKE_LOG"
    PATH="$FAKE_BIN:$PATH" run "$REPO/verify_docker_setup.sh"
    [ "$status" -eq 0 ]
    [[ "$output" == *"default bridge network present"* ]]
    [[ "$output" != *"COMPOSE_OVERRIDE=docker-compose.ci.yml ./gateway-docker.sh build"* ]]
}
