# Shared helpers for scripts/run and scripts/test: the virtual environment, and the services a
# fresh Debian machine may lack. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION=0.13.8
# uv must use this machine's Python 3.11, never download one; and urllib3-future must not replace
# urllib3 (see the comment in pyproject.toml).
export UV_PYTHON_DOWNLOADS=never URLLIB3_NO_OVERRIDE=1 UV_LINK_MODE=copy

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*"; return 1; fi
}

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null || { say "apt-get not found: install $* by hand"; return 1; }
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  say "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; return 1
}

# .venv from uv.lock, exactly (uv sync --frozen removes what the lock does not list).
ensure_venv() {
  local python; python="$(find_python)"
  if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  if ! "$ROOT/.tools/bin/uv" --version 2>/dev/null | grep -q "uv $UV_VERSION"; then
    say "installing uv $UV_VERSION into .tools/"
    "$python" -m venv "$ROOT/.tools"
    "$ROOT/.tools/bin/pip" install -q "uv==$UV_VERSION"
  fi
  say "syncing .venv with uv.lock"
  (cd "$ROOT" && "$ROOT/.tools/bin/uv" sync --frozen --quiet --python "$python")
}

wait_for() { # wait_for SECONDS COMMAND...: retry COMMAND until it succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

ensure_postgres() {
  postgres_up && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt_install postgresql
    local version; version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    # A fresh cluster asks for passwords on TCP; the tests connect as postgres on 127.0.0.1 only,
    # so trust that one address (and nothing else) on the cluster we just created.
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  say "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  wait_for 30 postgres_up || { say "PostgreSQL did not come up on 127.0.0.1:5432"; return 1; }
}

# The database the test settings name (pytest itself creates and drops test_calsync; the checks
# before it, such as makemigrations --check, connect to this one).
ensure_database() {
  local url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/calsync}" exists
  local name="${url##*/}"
  exists="$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")"
  [ "$exists" = 1 ] || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"$name\""
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  redis_up && return 0
  command -v redis-server >/dev/null || { say "installing Redis"; apt_install redis-server; }
  say "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/calsync-test.log
  wait_for 15 redis_up || { say "Redis did not come up on 127.0.0.1:6379"; return 1; }
}

ensure_gettext() {
  # msgfmt: tests/test_i18n.py checks that the committed .mo files are the .po files compiled.
  command -v msgfmt >/dev/null || { say "installing GNU gettext"; apt_install gettext; }
}

ensure_chromium() {
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] && return 0
  say "installing Debian's Chromium for the browser tests"
  apt_install chromium
}

# Cyrus IMAP's CalDAV, the third real CalDAV server of the tests: tests/caldav_servers.py starts
# it per test session from a private configuration. The packages' own system service must not
# start (it would listen on the IMAP ports): a policy-rc.d that refuses every start is put in
# place for the install when the machine has none.
ensure_cyrus() {
  if [ -x /usr/sbin/cyrmaster ] && [ -x /usr/lib/cyrus/bin/httpd ] && command -v saslpasswd2 >/dev/null; then
    return 0
  fi
  say "installing Cyrus IMAP and its CalDAV module for the CalDAV tests"
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    added=1
  fi
  apt_install cyrus-imapd cyrus-caldav sasl2-bin
  [ -z "$added" ] || as_root rm -f "$policy"
}
