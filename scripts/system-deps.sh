#!/bin/sh
# Debian packages the tests drive: skopeo, podman and containerd (real OCI clients), CNCF
# Distribution (docker-registry: an upstream for the pull-through cache), HAProxy, PostgreSQL (the
# server binaries and psql). Installs only what is missing; needs root for apt-get.
set -e
# axe-core (npm) for the console's accessibility checks, beside the venv (not committed)
if [ ! -f .venv/node/node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then
    npm install --silent --no-audit --no-fund --prefix .venv/node axe-core@4.14 >/dev/null 2>&1 || \
        echo "system-deps: npm could not install axe-core; the accessibility checks will skip" >&2
fi
missing=""
command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"
command -v podman >/dev/null 2>&1 || missing="$missing podman"
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v ctr >/dev/null 2>&1 || missing="$missing containerd"
command -v go >/dev/null 2>&1 || missing="$missing golang-go"  # builds the Go binary the scanner reads
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"  # the console's browser tests (Playwright)
command -v psql >/dev/null 2>&1 || missing="$missing postgresql-client"
command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"  # the load balancer of the replicated tests
command -v curl >/dev/null 2>&1 || missing="$missing curl"  # resolves ECR-shaped hostnames itself (--resolve)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing$missing; run as root or install them with apt-get" >&2
    exit 0
fi
echo "system-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
