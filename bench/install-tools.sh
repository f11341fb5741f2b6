#!/usr/bin/env bash
# The Debian packages the benchmark uses when present: wrk (the load generator;
# without it the harness falls back to autocannon in its own process) and nginx
# (the fast upstream; without it, the mock). Installed once; a no-op after.
set -euo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "bench: ${missing[*]} not installed (apt-get install ${missing[*]}); the harness falls back to autocannon / the mock upstream" >&2
  exit 0
fi
apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
# The package starts a system nginx on port 80; the bench runs its own on a free port.
if command -v service >/dev/null; then service nginx stop >/dev/null 2>&1 || true; fi
echo "bench: installed ${missing[*]}"
