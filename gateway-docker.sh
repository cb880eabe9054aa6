#!/usr/bin/env bash
# Manage the AIConexus gateway container with Docker Compose. Run `./gateway-docker.sh help`.
set -euo pipefail

CALLER_PWD="$PWD"
SCRIPT_PATH="${BASH_SOURCE[0]}"
[[ "$SCRIPT_PATH" == */* ]] || SCRIPT_PATH="./$SCRIPT_PATH"
SCRIPT_DIR="$(cd "${SCRIPT_PATH%/*}" && pwd)"
readonly CALLER_PWD SCRIPT_DIR
readonly SERVICE="gateway"
readonly PROJECT_LABEL="io.aiconexus.project=aiconexus-gateway"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-60}"
HEALTH_POLL="${HEALTH_POLL:-1}"
readonly MAX_RESTARTS=3
LOG_TAIL="${LOG_TAIL:-200}"

usage() {
    cat <<USAGE
Usage: ${0##*/} <command> [options]

Commands:
  build          build the gateway image (Dockerfile.gateway)
  start          start the gateway (builds the image if missing) and wait until healthy;
                 if it does not get healthy, its containers are stopped (not left restarting)
  stop           stop and remove the containers of every profile (e.g. redis); volumes
                 (key, logs) are kept
  restart        restart the container and wait until healthy
  status         show the container and its health (exit 3 if it is not running)
  logs [-f]      show the last \$LOG_TAIL log lines (-f: follow)
  health         GET /health from the host and print it (exit 1 unless healthy)
  shell          open a shell in the running container
  cleanup [-y]   remove the containers and volumes of every profile (the gateway key: a new
                 DID next time) and the project's images; asks first on a terminal unless -y
  help           show this text

Environment:
  COMPOSE_FILES     compose files, separated by ':' or spaces
                    (default: docker-compose.gateway.yml)
  COMPOSE_OVERRIDE  one more compose file appended, e.g. docker-compose.ci.yml
  COMPOSE_PROFILES, COMPOSE_PROJECT_NAME   passed to Compose as usual
  GATEWAY_IMAGE     image name (default aiconexus-gateway:latest)
  GATEWAY_PORT, GATEWAY_PUBLISH_PORT, LOG_LEVEL   see docker-compose.gateway.yml
  GATEWAY_NOFILE    open files of the container (default 65536, or this shell's hard
                    limit when lower)
  HEALTH_URL        URL that 'health' reads
                    (default http://127.0.0.1:\${GATEWAY_PUBLISH_PORT:-\${GATEWAY_PORT:-8000}}/health)
  HEALTH_TIMEOUT    seconds 'start' and 'restart' wait for health (default 60)
  HEALTH_POLL       seconds between two looks at the container's health (default 1)
  NO_COLOR          set to disable colours (colours are used only on a terminal)
USAGE
}

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    C_RED=$'\e[31m' C_GREEN=$'\e[32m' C_YELLOW=$'\e[33m' C_BLUE=$'\e[34m' C_OFF=$'\e[0m'
else
    C_RED="" C_GREEN="" C_YELLOW="" C_BLUE="" C_OFF=""
fi
readonly C_RED C_GREEN C_YELLOW C_BLUE C_OFF

info() { printf '%s==>%s %s\n' "$C_BLUE" "$C_OFF" "$*"; }
ok() { printf '%sok%s %s\n' "$C_GREEN" "$C_OFF" "$*"; }
warn() { printf '%swarning:%s %s\n' "$C_YELLOW" "$C_OFF" "$*" >&2; }
die() {
    printf '%serror:%s %s\n' "$C_RED" "$C_OFF" "$*" >&2
    exit 1
}
usage_error() {
    printf '%serror:%s %s\n\n' "$C_RED" "$C_OFF" "$*" >&2
    usage >&2
    exit 2
}

# ---- prerequisites and compose invocation

COMPOSE_ARGS=()

resolve_compose_files() {
    local spec="${COMPOSE_FILES:-docker-compose.gateway.yml}" file
    spec="${spec//:/ }"
    local -a files
    read -r -a files <<<"$spec"
    [[ -n "${COMPOSE_OVERRIDE:-}" ]] && files+=("$COMPOSE_OVERRIDE")
    ((${#files[@]} > 0)) || usage_error "COMPOSE_FILES is empty"
    for file in "${files[@]}"; do
        # Relative paths are taken from the caller's directory when they exist there,
        # otherwise from this script's directory.
        if [[ "$file" != /* && -e "$CALLER_PWD/$file" ]]; then
            file="$CALLER_PWD/$file"
        elif [[ "$file" != /* ]]; then
            file="$SCRIPT_DIR/$file"
        fi
        [[ -f "$file" ]] || die "compose file not found: $file"
        COMPOSE_ARGS+=(-f "$file")
    done
}

require_docker() {
    command -v docker >/dev/null 2>&1 ||
        die "docker CLI not found in PATH; install Docker (see DOCKER_GATEWAY.md, Prerequisites)"
    docker compose version >/dev/null 2>&1 ||
        die "Docker Compose v2 ('docker compose') not found; install the compose plugin (see DOCKER_GATEWAY.md, Prerequisites)"
    docker info >/dev/null 2>&1 ||
        die "cannot reach the Docker engine${DOCKER_HOST:+ at $DOCKER_HOST}; is dockerd running and may you use it?"
    resolve_compose_files
    adapt_nofile
}

# The compose files give the gateway GATEWAY_NOFILE open files (default 65536); a container
# cannot get more than the engine has, and an engine started by hand has this shell's hard
# limit ("error setting rlimits" otherwise). Ask for no more than that limit.
adapt_nofile() {
    local hard
    hard="$(ulimit -Hn)"
    if [[ -z "${GATEWAY_NOFILE:-}" && "$hard" != unlimited ]] && ((hard < 65536)); then
        export GATEWAY_NOFILE="$hard"
    fi
}

compose() { docker compose "${COMPOSE_ARGS[@]}" "$@"; }
# Every profile enabled (e.g. the redis service), whatever COMPOSE_PROFILES says: stop and
# cleanup must not leave a profile's container behind.
compose_all() { docker compose "${COMPOSE_ARGS[@]}" --profile '*' "$@"; }

container_id() { compose ps --all --quiet "$SERVICE" 2>/dev/null | head -n 1; }

container_state() {
    docker inspect --format \
        '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' \
        "$1" 2>/dev/null
}

show_last_logs() {
    warn "last log lines of the $SERVICE container:"
    compose logs --no-color --tail 50 "$SERVICE" >&2 || true
}

# Wait until the gateway container is running and healthy. Docker restarting it (state
# "restarting", whose health may still say unhealthy) is waited through; restarted
# MAX_RESTARTS times since the wait began is a crash loop. On failure, print the last log lines, set FAILURE and return 1.
FAILURE=""
wait_healthy() {
    local deadline=$((SECONDS + HEALTH_TIMEOUT)) id state health restarts first_restarts=""
    info "waiting up to ${HEALTH_TIMEOUT}s for the gateway to be healthy"
    while :; do
        id="$(container_id)"
        if [[ -n "$id" ]]; then
            read -r state health restarts <<<"$(container_state "$id")"
            restarts="${restarts:-0}"
            [[ -n "$first_restarts" ]] || first_restarts="$restarts"
            if [[ "$state" == running && "$health" == healthy ]]; then
                ok "gateway is healthy (container ${id:0:12})"
                return 0
            fi
            if [[ "$state" == exited || "$state" == dead ]]; then
                FAILURE="the gateway container stopped (state=$state)"
            elif ((restarts - first_restarts >= MAX_RESTARTS)); then
                FAILURE="the gateway container keeps restarting ($((restarts - first_restarts)) restarts while waiting)"
            elif [[ "$state" == running && "$health" == unhealthy ]]; then
                FAILURE="the gateway container reports unhealthy"
            fi
        fi
        if [[ -z "$FAILURE" ]] && ((SECONDS >= deadline)); then
            FAILURE="the gateway did not become healthy within ${HEALTH_TIMEOUT}s (state=${state:-none}, health=${health:-none})"
        fi
        if [[ -n "$FAILURE" ]]; then
            show_last_logs
            return 1
        fi
        sleep "$HEALTH_POLL"
    done
}

# After a failed start or restart: stop the containers so that Docker does not restart a
# failing gateway forever. They (and their logs) stay until 'stop' or 'cleanup'.
stop_failed_start() {
    warn "stopping the containers so that Docker does not keep restarting them; '${0##*/} logs' shows the log, '${0##*/} stop' removes them"
    compose_all stop >/dev/null 2>&1 || warn "could not stop the containers"
    die "$FAILURE"
}

# Fail unless the containers of the project (of every profile) are gone.
require_no_containers() {
    local left
    left="$(compose_all ps --all --quiet 2>/dev/null | tr '\n' ' ')"
    [[ -z "${left// /}" ]] || die "containers still present after '$1': $left"
}

# ---- commands

cmd_build() {
    info "building ${GATEWAY_IMAGE:-aiconexus-gateway:latest}"
    compose build "$SERVICE"
    ok "image built"
}

cmd_start() {
    info "starting the gateway"
    compose up --detach --remove-orphans || {
        show_last_logs
        FAILURE="docker compose up failed"
        stop_failed_start
    }
    wait_healthy || stop_failed_start
    print_endpoints
}

cmd_stop() {
    info "stopping the gateway (volumes are kept)"
    compose_all down --remove-orphans
    require_no_containers stop
    ok "stopped"
}

cmd_restart() {
    [[ -n "$(container_id)" ]] || die "the gateway is not running; use '${0##*/} start'"
    info "restarting the gateway"
    compose restart "$SERVICE"
    wait_healthy || stop_failed_start
}

cmd_status() {
    compose ps --all
    local id
    id="$(container_id)"
    if [[ -z "$id" ]]; then
        warn "no gateway container"
        return 3
    fi
    local state health restarts
    read -r state health restarts <<<"$(container_state "$id")"
    printf 'gateway: state=%s health=%s restarts=%s\n' "$state" "$health" "$restarts"
    [[ "$state" == running ]] || return 3
}

cmd_logs() {
    local -a args=(--tail "$LOG_TAIL")
    [[ "${1:-}" == "" ]] || args+=(--follow)
    compose logs "${args[@]}" "$SERVICE"
}

health_url() {
    printf '%s' "${HEALTH_URL:-http://127.0.0.1:${GATEWAY_PUBLISH_PORT:-${GATEWAY_PORT:-8000}}/health}"
}

cmd_health() {
    local url body
    url="$(health_url)"
    if command -v curl >/dev/null 2>&1; then
        body="$(curl --silent --show-error --fail --max-time 5 "$url")" ||
            die "GET $url failed"
    elif command -v python3 >/dev/null 2>&1; then
        body="$(python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$url")" ||
            die "GET $url failed"
    else
        die "neither curl nor python3 found to read $url"
    fi
    printf '%s\n' "$body"
    [[ "$body" == *'"status":"ok"'* || "$body" == *'"status": "ok"'* ]] ||
        die "gateway answered but is not healthy"
    ok "gateway healthy at $url"
}

cmd_shell() {
    [[ -n "$(container_id)" ]] || die "the gateway is not running; use '${0##*/} start'"
    compose exec "$SERVICE" sh
}

cmd_cleanup() {
    local assume_yes=0
    [[ "${1:-}" == "" ]] || assume_yes=1
    if ((assume_yes == 0)) && [[ -t 0 ]]; then
        local answer
        read -r -p "Remove the gateway containers, volumes (its key and DID, logs) and images? [y/N] " answer
        [[ "$answer" == [yY]* ]] || die "cancelled"
    fi
    # Images of the enabled services that this project built (they carry its label), e.g.
    # the gateway image; pulled images such as redis are left alone.
    local -a images=() leftovers=()
    local image
    while read -r image; do
        [[ -n "$image" ]] || continue
        if [[ "$(docker image inspect --format \
            '{{index .Config.Labels "io.aiconexus.project"}}' "$image" 2>/dev/null)" == aiconexus-gateway ]]; then
            images+=("$image")
        fi
    done < <(compose_all config --images 2>/dev/null | sort -u)
    info "removing containers and volumes"
    compose_all down --volumes --remove-orphans
    require_no_containers cleanup
    if ((${#images[@]} > 0)); then
        info "removing image(s): ${images[*]}"
        docker image rm "${images[@]}" >/dev/null
    fi
    # Intermediate build-stage images that the classic builder leaves untagged.
    mapfile -t leftovers < <(docker image ls --quiet --filter dangling=true \
        --filter "label=$PROJECT_LABEL" | sort -u)
    if ((${#leftovers[@]} > 0)); then
        info "removing ${#leftovers[@]} untagged build-stage image(s)"
        docker image rm --force "${leftovers[@]}" >/dev/null
    fi
    ok "cleaned up"
}

print_endpoints() {
    local port="${GATEWAY_PUBLISH_PORT:-${GATEWAY_PORT:-8000}}"
    printf '  WebSocket: ws://127.0.0.1:%s/ws\n  Health:    http://127.0.0.1:%s/health\n' "$port" "$port"
}

main() {
    [[ $# -gt 0 ]] || usage_error "no command given"
    local cmd="$1"
    shift
    case "$cmd" in
        help | -h | --help)
            usage
            return 0
            ;;
        build | start | stop | restart | status | health | shell)
            [[ $# -eq 0 ]] || usage_error "'$cmd' takes no arguments"
            ;;
        logs)
            [[ $# -eq 0 || ($# -eq 1 && ("$1" == -f || "$1" == --follow)) ]] ||
                usage_error "logs takes only -f"
            ;;
        cleanup)
            [[ $# -eq 0 || ($# -eq 1 && ("$1" == -y || "$1" == --yes)) ]] ||
                usage_error "cleanup takes only -y"
            ;;
        *) usage_error "unknown command '$cmd'" ;;
    esac
    [[ "$HEALTH_TIMEOUT" =~ ^[0-9]+$ ]] || usage_error "HEALTH_TIMEOUT must be a number of seconds"
    [[ "$HEALTH_POLL" =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_error "HEALTH_POLL must be a number of seconds"
    [[ "$LOG_TAIL" =~ ^[0-9]+$ || "$LOG_TAIL" == all ]] || usage_error "LOG_TAIL must be a number or 'all'"
    require_docker
    cd "$SCRIPT_DIR"
    "cmd_$cmd" "$@"
}

main "$@"
