#!/bin/sh
# Bind beyond the container's loopback only when a token guards it, or when told to
# (LIVEWATCH_EXPOSE=1, e.g. behind an authenticating proxy). Otherwise stay on loopback.
set -eu
if [ -z "${LIVEWATCH_HOST:-}" ]; then
  if [ -n "${LIVEWATCH_TOKEN:-}" ] || [ "${LIVEWATCH_EXPOSE:-0}" = "1" ]; then
    export LIVEWATCH_HOST=0.0.0.0
  else
    echo "[SECURITY] no LIVEWATCH_TOKEN and no LIVEWATCH_EXPOSE=1: listening on the container's loopback only" >&2
    export LIVEWATCH_HOST=127.0.0.1
  fi
fi
exec livewatch "$@"
