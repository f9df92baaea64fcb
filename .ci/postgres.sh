# A throwaway PostgreSQL cluster for the tests that run against a real server (the store's database_url
# fixture, tests/conftest.py). Sourced by .ci/run; by hand:
#   . .ci/postgres.sh && ci_postgres_start && python -m pytest; ci_postgres_stop
# Every step checks its own status and returns non-zero, because set -e does not apply inside a function
# called as `ci_postgres_start || ...`.

ci_pg_dir=""
ci_pg_bin=""
ci_pg_as=()

# The server binaries: Debian keeps them out of PATH, one directory per major version, so take the newest
# (sort -V: 9.6 < 15 < 16); else whatever pg_ctl is on PATH (a non-Debian machine).
ci_postgres_bindir() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$dir" ] && [ -x "$(dirname "$dir")/initdb" ]; then
    dirname "$dir"
  elif command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
  else
    return 1
  fi
}

# Run a server binary as a user it accepts: initdb, pg_ctl and postgres refuse root, so as root they run as
# Debian's postgres system user; otherwise as whoever runs CI. From inside the cluster's directory, which
# that user can read (the checkout may not be).
ci_postgres_as() {
  (cd "$ci_pg_dir" && "${ci_pg_as[@]}" "$ci_pg_bin/$1" "${@:2}")
}

# initdb a fresh cluster in a temp dir, start it on a free port of 127.0.0.1 and export its URL for pytest.
ci_postgres_start() {
  local user port
  ci_pg_bin=$(ci_postgres_bindir) || { echo "CI: no PostgreSQL server binaries (initdb, pg_ctl)" >&2; return 1; }
  # In memory when /dev/shm has room (1 GiB free; Docker's default 64 MiB has not), else in TMPDIR:
  # CREATE DATABASE, once per test, took 20-25 ms on tmpfs against 60-300 ms on an ext4 disk, fsync off.
  local base="${TMPDIR:-/tmp}" shm_free
  shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [ -w /dev/shm ] && [ "${shm_free:-0}" -ge 1048576 ] 2>/dev/null; then
    base=/dev/shm
  fi
  ci_pg_dir=$(mktemp -d "$base/callqa-pg.XXXXXX") || return 1
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "CI: running as root and there is no postgres user" >&2; return 1; }
    user=postgres
    ci_pg_as=(runuser -u postgres --)
    # mktemp made it 0700 root's; the cluster's files must belong to the user the server runs as.
    chown postgres: "$ci_pg_dir" || return 1
  else
    user=$(id -un)
    ci_pg_as=()
  fi
  # Trust auth, since only this machine's loopback and a private socket directory can reach it. Locale C:
  # the same byte-order collation on every machine, and UTF8 whatever the environment's LANG is.
  # --no-sync: a crash loses a throwaway cluster, nothing more.
  if ! ci_postgres_as initdb -D "$ci_pg_dir/data" -U "$user" -A trust -E UTF8 --locale=C --no-sync \
    >"$ci_pg_dir/initdb.log" 2>&1; then
    sed 's/^/  initdb: /' "$ci_pg_dir/initdb.log" >&2
    return 1
  fi
  # Port 0 makes the kernel pick a free one; the socket closes at once, so another process could take the port
  # before the server binds it, which the start then reports.
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
    return 1
  mkdir "$ci_pg_dir/sock" && chown --reference="$ci_pg_dir" "$ci_pg_dir/sock" || return 1
  # No durability (fsync, synchronous commit, full-page writes): the tests create and drop a database each,
  # and durability is what makes that slow. Each CREATE DATABASE writes its copy of template0 (~8 MB) to
  # the WAL: a checkpoint every 256 MB, not the default 1 GB, keeps the WAL small in /dev/shm. The socket
  # lives inside the cluster's directory, not in /var/run/postgresql, which may not exist or belong to
  # another server.
  cat >>"$ci_pg_dir/data/postgresql.conf" <<EOF || return 1
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$ci_pg_dir/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 256MB
EOF
  if ! ci_postgres_as pg_ctl -D "$ci_pg_dir/data" -l "$ci_pg_dir/server.log" -w -t 60 start \
    >"$ci_pg_dir/pg_ctl.log" 2>&1; then
    sed 's/^/  pg_ctl: /' "$ci_pg_dir/pg_ctl.log" >&2
    [ -f "$ci_pg_dir/server.log" ] && sed 's/^/  postgres: /' "$ci_pg_dir/server.log" >&2
    return 1
  fi
  export CALLQA_TEST_POSTGRES="postgresql+psycopg://$user@127.0.0.1:$port/postgres"
  # CI must not pass by skipping: without a server the PostgreSQL tests fail instead.
  export CALLQA_REQUIRE_POSTGRES=1
}

# Stop the server and remove its directory; safe to call when the start failed halfway, or twice.
ci_postgres_stop() {
  if [ -n "$ci_pg_dir" ] && [ -d "$ci_pg_dir" ]; then
    # Fast: disconnect the clients (a test that hung on to a connection) rather than wait for them. Immediate
    # if that fails too, so that no server outlives CI with its directory gone.
    if [ -f "$ci_pg_dir/data/postmaster.pid" ]; then
      ci_postgres_as pg_ctl -D "$ci_pg_dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        ci_postgres_as pg_ctl -D "$ci_pg_dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
        echo "CI: the PostgreSQL server in $ci_pg_dir did not stop" >&2
    fi
    rm -rf "$ci_pg_dir"
  fi
  ci_pg_dir=""
}
