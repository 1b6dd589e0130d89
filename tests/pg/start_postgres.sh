#!/usr/bin/env bash
# Start a throw-away PostgreSQL server from the system packages (Debian: apt-get install postgresql)
# and print the line that points the test suite at it:
#   eval "$(tests/pg/start_postgres.sh)"   # exports QUBITHUB_LITE_TEST_DATABASE and QH_PG_DIR
#   tests/pg/start_postgres.sh stop DIR     # stops it and removes DIR
# The cluster lives in a temp dir, listens on 127.0.0.1 only (a free port) and has a role with a
# random password (the suite's tests check that it is never printed). Each test creates its own
# database on it (tests/conftest.py).
set -euo pipefail
if [ "${1:-}" = stop ]; then
  dir=$2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  runas=(); [ "$(id -u)" = 0 ] && runas=(runuser -u postgres --)
  "${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi
bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bindir/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
dir=$(mktemp -d /tmp/qh-pg.XXXXXX)
chmod 755 "$dir"
runas=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$dir"
  runas=(runuser -u postgres --)
fi
port=${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$password" > "$dir/pwfile"
[ -n "${runas[*]}" ] && chown postgres "$dir/pwfile"
"${runas[@]}" "$bindir/initdb" -D "$dir/data" -U qubithub --pwfile="$dir/pwfile" -A scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
rm -f "$dir/pwfile"
# A test server: no durability needed, many short-lived databases.
"${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=64MB" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
echo "export QUBITHUB_LITE_TEST_DATABASE=postgresql://qubithub:$password@127.0.0.1:$port/postgres QH_PG_DIR=$dir"
