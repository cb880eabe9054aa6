#!/usr/bin/env bash
# Check that the Docker deployment files are in place and that Docker and Compose work here.
# Exit 1 if a required file is missing or a script is not executable; Docker and Compose
# missing are reported as warnings (the files can be checked without them), unless
# REQUIRE_DOCKER=1. Run `./verify_docker_setup.sh help` for this text.
set -euo pipefail

SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
SCRIPT_DIR="$(cd "${SCRIPT_PATH%/*}" && pwd)"
readonly SCRIPT_DIR

case "${1:-}" in
    "") ;;
    help | -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SCRIPT_PATH"
        exit 0
        ;;
    *)
        printf 'error: unknown argument %s\nUsage: %s [help]\n' "$1" "${0##*/}" >&2
        exit 2
        ;;
esac

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    C_RED=$'\e[31m' C_GREEN=$'\e[32m' C_YELLOW=$'\e[33m' C_OFF=$'\e[0m'
else
    C_RED="" C_GREEN="" C_YELLOW="" C_OFF=""
fi

errors=0
warnings=0
good() { printf '  %s[ok]%s   %s\n' "$C_GREEN" "$C_OFF" "$*"; }
bad() {
    printf '  %s[FAIL]%s %s\n' "$C_RED" "$C_OFF" "$*"
    errors=$((errors + 1))
}
meh() {
    printf '  %s[warn]%s %s\n' "$C_YELLOW" "$C_OFF" "$*"
    warnings=$((warnings + 1))
}

cd "$SCRIPT_DIR"

echo "Files:"
for file in Dockerfile.gateway .dockerignore docker-compose.gateway.yml docker-compose.ci.yml \
    .env.gateway.example DOCKER_GATEWAY.md gateway/requirements.lock \
    docker-compose.cluster.yml docker-compose.cluster.ci.yml deploy/nginx-cluster.conf \
    scripts/docker_smoke_client.py scripts/docker_cluster_client.py \
    sdk/pyproject.toml gateway/pyproject.toml; do
    if [[ -s "$file" ]]; then good "$file"; else bad "$file is missing or empty"; fi
done
for file in deploy/k8s/deployment.yaml deploy/k8s/service.yaml deploy/k8s/configmap.yaml \
    deploy/k8s/pvc.yaml deploy/k8s/kustomization.yaml; do
    if [[ -s "$file" ]]; then good "$file"; else bad "$file is missing or empty"; fi
done

echo "Executable scripts:"
for file in gateway-docker.sh test_docker_gateway.sh test_docker_cluster.sh verify_docker_setup.sh \
    scripts/ci/docker-engine.sh scripts/ci/base-image.sh scripts/ci/docker-checks.sh \
    scripts/lock-deps.sh; do
    if [[ ! -e "$file" ]]; then
        bad "$file is missing"
    elif [[ -x "$file" ]]; then
        good "$file"
    else
        bad "$file is not executable (chmod +x $file)"
    fi
done

echo "Local settings:"
if [[ -f .env.gateway ]]; then
    good ".env.gateway present (used by docker-compose.gateway.yml)"
else
    good ".env.gateway absent: defaults apply (cp .env.gateway.example .env.gateway to change them)"
fi

echo "Docker:"
docker_ok=0
no_bridge=0
if ! command -v docker >/dev/null 2>&1; then
    meh "docker CLI not found (see DOCKER_GATEWAY.md, Prerequisites)"
else
    good "docker CLI: $(docker --version)"
    if docker info >/dev/null 2>&1; then
        good "engine reachable${DOCKER_HOST:+ at $DOCKER_HOST}"
        docker_ok=1
        # docker-compose.gateway.yml builds and runs on the default bridge network; an
        # engine started with --bridge=none has none, and `build` fails with "network
        # bridge not found". The host-networking override (docker-compose.ci.yml) applies.
        if docker network inspect bridge >/dev/null 2>&1; then
            good "default bridge network present"
        else
            no_bridge=1
            meh "the engine has no default bridge network (dockerd --bridge=none): './gateway-docker.sh build' and 'start' as they stand fail with 'network bridge not found'. Fix: use host networking, GATEWAY_PORT=8000 COMPOSE_OVERRIDE=docker-compose.ci.yml before each ./gateway-docker.sh command (listens on 127.0.0.1:GATEWAY_PORT), as the next steps below show; or give the engine its bridge back (start dockerd without --bridge=none)"
        fi
    else
        meh "cannot reach the Docker engine${DOCKER_HOST:+ at $DOCKER_HOST} (is dockerd running?)"
    fi
    if docker compose version >/dev/null 2>&1; then
        good "Compose: $(docker compose version)"
        if docker compose -f docker-compose.gateway.yml config --quiet 2>/dev/null; then
            good "docker-compose.gateway.yml is valid"
        else
            bad "docker compose rejects docker-compose.gateway.yml (docker compose -f docker-compose.gateway.yml config)"
        fi
    else
        meh "Docker Compose v2 ('docker compose') not found"
        docker_ok=0
    fi
fi
if [[ "${REQUIRE_DOCKER:-0}" == 1 && "$docker_ok" != 1 ]]; then
    bad "REQUIRE_DOCKER=1 but Docker or Compose is not usable"
fi

echo
if ((errors > 0)); then
    printf '%s%d problem(s), %d warning(s).%s\n' "$C_RED" "$errors" "$warnings" "$C_OFF"
    exit 1
fi
printf '%sSetup complete%s (%d warning(s)). Next steps:\n' "$C_GREEN" "$C_OFF" "$warnings"
if ((no_bridge)); then
    host="GATEWAY_PORT=8000 COMPOSE_OVERRIDE=docker-compose.ci.yml"
    printf '%s\n' \
        "  (host networking: this engine has no bridge network)" \
        "  $host ./gateway-docker.sh build     build the image" \
        "  $host ./gateway-docker.sh start     start it (ws://127.0.0.1:8000/ws)" \
        "  $host ./gateway-docker.sh health    check GET /health" \
        "  ./test_docker_gateway.sh      run the end-to-end test (picks host networking itself)"
else
    printf '%s\n' \
        "  ./gateway-docker.sh build     build the image" \
        "  ./gateway-docker.sh start     start it and wait until healthy (ws://127.0.0.1:8000/ws)" \
        "  ./gateway-docker.sh health    check GET /health" \
        "  ./test_docker_gateway.sh      run the end-to-end test (needs 'make install' for the SDK)"
fi
echo "See DOCKER_GATEWAY.md for configuration, TLS and production."
