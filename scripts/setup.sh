#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine with Node 20 for Cellblock: installs the
# system packages the project needs (only those missing), then builds the addon
# and the TypeScript with `npm ci`. Run as root; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential   # g++ and make for the addon; gcc for the tests' C programs
  python3           # node-gyp
  pkg-config
  libseccomp-dev    # the addon builds its seccomp filters with libseccomp
  redis-server      # the queue (the service starts its own when REDIS_URL is unset)
  bubblewrap        # the benchmark's peer
  chromium          # the web pages' tests drive it headless (playwright-core downloads no browser)
  attr              # setfattr: opaque directories of imported image layers (overlayfs)
  # the judge's language toolchains (profiles/languages/*.json); a missing one
  # only makes its language unavailable. Rust comes from rustup, not from here.
  openjdk-17-jdk-headless  # java: javac, jar and java
  golang-go         # go
  ruby              # ruby
  php-cli           # php
  fp-compiler       # pascal (Free Pascal)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
