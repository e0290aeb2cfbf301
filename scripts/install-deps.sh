#!/usr/bin/env bash
# Installs what roomcast needs on a fresh Debian 12 machine, idempotently.
#   scripts/install-deps.sh build   FFmpeg 5.1 -dev packages, pkg-config, the ffmpeg CLI
#   scripts/install-deps.sh test    build + the real components the tests run:
#                                   nginx with the RTMP module, stunnel (rtmps front),
#                                   chromium, hls.js (npm), livekit-server v1.9.11 and
#                                   v1.8.4, playwright-core + livekit-client (npm; the
#                                   browser harness drives Debian's chromium, never a download),
#                                   staticcheck (the linter make test runs),
#                                   nats-server v2.15.2 (the store's external-cluster tests),
#                                   janus 1.1.2 (Debian's; the Janus connector's tests),
#                                   versitygw v1.8.0 (the S3 server the upload tests run)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-build}
build_pkgs=(pkg-config ffmpeg libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev libavutil-dev libpostproc-dev gcc)
test_pkgs=(nginx libnginx-mod-rtmp libnginx-mod-stream stunnel4 chromium openssl ca-certificates nodejs npm
  janus iproute2)

need=()
pkgs=("${build_pkgs[@]}")
[[ $mode == test ]] && pkgs+=("${test_pkgs[@]}")
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
# node and npm may come with the machine image rather than from Debian.
if [[ $mode == test ]] && command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${need[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  need=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# nginx from Debian starts itself; the tests run their own instances.
if [[ $mode == test ]] && command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
# Debian's janus starts a system instance too; the tests run their own, in a
# network namespace of their own.
if [[ $mode == test ]] && command -v systemctl >/dev/null && systemctl is-active --quiet janus 2>/dev/null; then
  systemctl disable --now janus || true
fi

command -v go >/dev/null || { echo "Go 1.26 is required (https://go.dev/dl)"; exit 1; }

if [[ $mode == test ]]; then
  gobin=$(go env GOPATH)/bin
  # Both versions `go install` as "server", so each gets its own GOBIN
  # (internal/lktest looks there; an older $gobin/server v1.8.4 still counts).
  for v in 1.9.11 1.8.4; do
    if ! "$gobin/livekit-v$v/server" --version 2>/dev/null | grep -qx "livekit-server version $v"; then
      echo "installing livekit-server v$v"
      GOFLAGS= GOBIN="$gobin/livekit-v$v" go install "github.com/livekit/livekit-server/cmd/server@v$v"
    fi
  done
  if ! "$gobin/nats-server" --version 2>/dev/null | grep -q "v2.15.2"; then
    echo "installing nats-server v2.15.2"
    GOFLAGS= go install github.com/nats-io/nats-server/v2@v2.15.2
  fi
  if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "0.8.2"; then
    echo "installing staticcheck v0.8.2"
    GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
  fi
  # versitygw's --version says "git" when built by go install; the module
  # version is in the binary's build info.
  if ! go version -m "$gobin/versitygw" 2>/dev/null | grep -qP "^\s+mod\s+github.com/versity/versitygw\s+v1.8.0\s"; then
    echo "installing versitygw v1.8.0 (about 1.5 min)"
    GOFLAGS= go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
  fi
  if [[ -f muxer/hls/testdata/player/package.json && ! -d muxer/hls/testdata/player/node_modules/hls.js ]]; then
    echo "installing hls.js"
    (cd muxer/hls/testdata/player && npm install --no-audit --no-fund --silent)
  fi
  if [[ -f internal/browser/page/package-lock.json && ( ! -d internal/browser/page/node_modules/playwright-core ||
        ! -d internal/browser/page/node_modules/livekit-client ) ]]; then
    echo "installing playwright-core and livekit-client"
    (cd internal/browser/page && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
fi
echo "dependencies ready ($mode)"
