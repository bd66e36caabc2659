#!/usr/bin/env bash
# Throwaway PostgreSQL and MariaDB servers for the test suite, started only when the caller
# has not given BERTH_TEST_POSTGRES_URL / BERTH_TEST_MYSQL_URL. Source this file; it exports
# the URLs and registers an EXIT trap that stops what it started.
#   source scripts/dbservers.sh
set -euo pipefail
_berth_tmp=$(mktemp -d /tmp/berth-testdb.XXXXXX)
chmod 755 "$_berth_tmp"
_berth_stop() {
  if [ -n "${_berth_pg_data:-}" ] && [ -f "$_berth_pg_data/postmaster.pid" ]; then
    _berth_as_pg "$_berth_pg_bin/pg_ctl" -D "$_berth_pg_data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${_berth_my_pid:-}" ]; then
    kill "$_berth_my_pid" 2>/dev/null || true
    wait "$_berth_my_pid" 2>/dev/null || true
  fi
  rm -rf "$_berth_tmp"
}
trap _berth_stop EXIT

_berth_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
_berth_as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${BERTH_TEST_POSTGRES_URL:-}" ]; then
  _berth_pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$_berth_pg_bin" ] && command -v initdb >/dev/null; then _berth_pg_bin=$(dirname "$(command -v initdb)"); fi
  if [ -z "$_berth_pg_bin" ]; then
    echo "dbservers: PostgreSQL binaries not found; install postgresql or set BERTH_TEST_POSTGRES_URL" >&2
    exit 1
  fi
  _berth_pg_data="$_berth_tmp/pg"
  mkdir -p "$_berth_pg_data"
  [ "$(id -u)" = 0 ] && chown postgres "$_berth_tmp" "$_berth_pg_data"
  _berth_pg_port=$(_berth_free_port)
  _berth_as_pg "$_berth_pg_bin/initdb" -D "$_berth_pg_data" -U postgres --auth=trust -E UTF8 >/dev/null
  _berth_as_pg "$_berth_pg_bin/pg_ctl" -D "$_berth_pg_data" -l "$_berth_pg_data/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $_berth_pg_port -k $_berth_pg_data -c fsync=off -c max_connections=200" start >/dev/null
  export BERTH_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$_berth_pg_port/postgres"
  echo "dbservers: throwaway PostgreSQL on 127.0.0.1:$_berth_pg_port"
fi

if [ -z "${BERTH_TEST_MYSQL_URL:-}" ]; then
  _berth_mysqld=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null || true)
  _berth_install=$(command -v mariadb-install-db || command -v mysql_install_db || true)
  if [ -z "$_berth_mysqld" ] || [ -z "$_berth_install" ]; then
    echo "dbservers: MariaDB binaries not found; install mariadb-server or set BERTH_TEST_MYSQL_URL" >&2
    exit 1
  fi
  _berth_my_data="$_berth_tmp/my"
  mkdir -p "$_berth_my_data"
  _berth_my_port=$(_berth_free_port)
  _berth_user_opt=()
  [ "$(id -u)" = 0 ] && _berth_user_opt=(--user=root)
  "$_berth_install" --no-defaults --datadir="$_berth_my_data" "${_berth_user_opt[@]}" \
    --auth-root-authentication-method=normal --skip-test-db >"$_berth_tmp/my-install.log" 2>&1
  "$_berth_mysqld" --no-defaults --datadir="$_berth_my_data" "${_berth_user_opt[@]}" \
    --bind-address=127.0.0.1 --port="$_berth_my_port" --socket="$_berth_my_data/sock" \
    --innodb-flush-log-at-trx-commit=0 --skip-log-bin --max-connections=300 \
    --pid-file="$_berth_my_data/pid" --log-error="$_berth_tmp/my.err" &
  _berth_my_pid=$!
  for _i in $(seq 1 120); do
    if python3 - "$_berth_my_port" <<'PY' 2>/dev/null; then break; fi
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)
s.close()
PY
    sleep 0.25
  done
  export BERTH_TEST_MYSQL_URL="mysql://root@127.0.0.1:$_berth_my_port/mysql"
  echo "dbservers: throwaway MariaDB on 127.0.0.1:$_berth_my_port"
fi
