#!/bin/sh
# PostgreSQL server binaries for tests/test_sinks_postgres.py and the kill/resume test:
# the tests start their own throwaway server on 127.0.0.1 (initdb + pg_ctl, as the
# `postgres` user the package creates), so no service is started here.
set -eu
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql
# The Debian package may start a default cluster; the tests do not use it.
if command -v pg_ctlcluster >/dev/null 2>&1; then
    for conf in /etc/postgresql/*/main; do
        [ -d "$conf" ] || continue
        version=$(basename "$(dirname "$conf")")
        pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
    done
fi
