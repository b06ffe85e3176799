#!/usr/bin/env bash
# Start Debian's PostgreSQL on 127.0.0.1 and create a role that may create the per-test databases.
# Prints the URL to export as CALLBRIDGE_TEST_DATABASE_URL.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null; then
  echo "PostgreSQL is not installed (scripts/install-test-deps.sh installs it)" >&2
  exit 1
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2, $4}' | grep -q "^$version main online"; then
  pg_ctlcluster "$version" main start >&2
fi
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
as_postgres "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='callbridge'\" | grep -q 1 || \
  psql -q -c \"CREATE ROLE callbridge LOGIN CREATEDB PASSWORD 'callbridge'\"" >&2
as_postgres "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='callbridge'\" | grep -q 1 || \
  createdb -O callbridge callbridge" >&2
echo "postgresql+asyncpg://callbridge:callbridge@127.0.0.1:5432/callbridge"
