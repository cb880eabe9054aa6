#!/usr/bin/env bash
# Make a local stand-in for the python:3.13-slim base image when no registry is reachable.
#
# Dockerfile.gateway starts FROM python:3.13-slim. Where that image can be pulled, this script
# is not needed. Without a registry, it builds an image of that name from Debian trixie
# (Python 3.13) with debootstrap: a minimal root with python3, python3-venv and CA
# certificates (the host's extra CA certificates included, so pip inside builds trusts this
# network's TLS), and a venv at /usr/local so that /usr/local/bin/python and pip exist as in
# the official image. It does nothing if the image already exists (FORCE=1 rebuilds).
#
# Needs root, a running Docker engine (DOCKER_HOST as usual) and debootstrap (installed with
# apt-get if missing). Environment: BASE_IMAGE (default python:3.13-slim), DEBIAN_SUITE
# (default trixie), DEBIAN_MIRROR (default: debootstrap's own).
set -euo pipefail

readonly BASE_IMAGE="${BASE_IMAGE:-python:3.13-slim}"
readonly DEBIAN_SUITE="${DEBIAN_SUITE:-trixie}"
readonly DEBIAN_MIRROR="${DEBIAN_MIRROR:-}"

log() { printf 'base-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "${1:-}" in
    "") ;;
    help | -h | --help)
        printf 'Usage: %s\n\nBuild the local %s stand-in image (see the comment at the top).\n' \
            "${0##*/}" "$BASE_IMAGE"
        exit 0
        ;;
    *)
        printf 'Usage: %s   (takes no arguments)\n' "${0##*/}" >&2
        exit 2
        ;;
esac

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is DOCKER_HOST set?)"

if [[ "${FORCE:-0}" != "1" ]] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "$BASE_IMAGE exists; nothing to do"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/base-image.XXXXXX")"
readonly ROOTFS
trap 'rm -rf "$ROOTFS"' EXIT

log "debootstrap $DEBIAN_SUITE into $ROOTFS"
# shellcheck disable=SC2086  # the mirror is optional: empty means debootstrap's default
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$DEBIAN_SUITE" "$ROOTFS" $DEBIAN_MIRROR >"$ROOTFS.debootstrap.log" 2>&1 || {
    tail -n 30 "$ROOTFS.debootstrap.log" >&2
    rm -f "$ROOTFS.debootstrap.log"
    die "debootstrap failed"
}
rm -f "$ROOTFS.debootstrap.log"

shopt -s nullglob
extra_certs=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob
if ((${#extra_certs[@]} > 0)); then
    log "adding ${#extra_certs[@]} CA certificate(s) of this host"
    mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
    cp "${extra_certs[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
fi
chroot "$ROOTFS" update-ca-certificates >/dev/null
chroot "$ROOTFS" python3 -m venv /usr/local
# The official image keeps no apt lists or caches either.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb

log "importing as $BASE_IMAGE"
tar -C "$ROOTFS" -c . | docker import \
    -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
docker run --rm --network=host "$BASE_IMAGE" python --version >&2
log "done: $(docker image inspect -f '{{.Size}}' "$BASE_IMAGE") bytes"
