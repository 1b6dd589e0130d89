#!/usr/bin/env bash
# The whole test suite on SQLite, then on PostgreSQL: README's test command (and .ci/run's).
#   tests/run_all.sh [PYTEST ARGS...]     e.g. tests/run_all.sh -x tests/runs
# PostgreSQL is a throw-away server from the system packages (tests/pg/start_postgres.sh: a temp
# dir, 127.0.0.1, a free port, a random password), stopped again at the end; works as root (the
# server runs as the postgres user) and as any other user. Both runs use pytest-xdist
# (QH_TEST_WORKERS workers, default "auto": one per core). Exits non-zero if either run failed,
# or if the PostgreSQL server binaries are missing (apt-get install postgresql).
# QH_TEST_DATABASES="sqlite" (or "postgresql") runs only one of them.
# Both run the whole suite (tests that are about one database say so and skip on the other:
# the sqlite_only / postgres_only marks). QH_PG_TESTS=specific runs only the PostgreSQL-specific
# tests there (tests/pg: search, concurrency, migrations, NUL characters; tests/multiproc:
# several API processes on one database), for a quick check of the PostgreSQL path.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
databases=${QH_TEST_DATABASES:-sqlite postgresql}
pytest_args=(-q -p no:cacheprovider -n "${QH_TEST_WORKERS:-auto}" --dist loadgroup "$@")
extra_args=$#
status=0
summary=()

run() {  # run LABEL: the suite (on PostgreSQL if QUBITHUB_LITE_TEST_DATABASE is set)
  local label=$1 start rc
  start=$(date +%s)
  echo "=== $(date -u +%H:%M:%S) test suite on $label: $python -m pytest ${pytest_args[*]}"
  if [ "$label" = SQLite ]; then
    env -u QUBITHUB_LITE_TEST_DATABASE "$python" -m pytest "${pytest_args[@]}"
  elif [ "${QH_PG_TESTS:-all}" = specific ] && [ "$extra_args" = 0 ]; then
    "$python" -m pytest "${pytest_args[@]}" tests/pg tests/multiproc
  else
    "$python" -m pytest "${pytest_args[@]}"
  fi
  rc=$?
  summary+=("$label: exit $rc in $(( $(date +%s) - start )) s")
  [ "$rc" = 0 ] || status=1
}

for database in $databases; do
  case $database in
    sqlite)
      run SQLite
      ;;
    postgresql)
      if ! pg_env=$(tests/pg/start_postgres.sh); then
        echo "PostgreSQL: cannot start a test server (apt-get install postgresql)" >&2
        summary+=("PostgreSQL: not run (no server)")
        status=1
        continue
      fi
      eval "$pg_env"  # QUBITHUB_LITE_TEST_DATABASE, QH_PG_DIR
      trap 'tests/pg/start_postgres.sh stop "$QH_PG_DIR"' EXIT
      run PostgreSQL
      tests/pg/start_postgres.sh stop "$QH_PG_DIR"
      trap - EXIT
      unset QUBITHUB_LITE_TEST_DATABASE QH_PG_DIR
      ;;
    *) echo "unknown database in QH_TEST_DATABASES: $database" >&2; exit 2 ;;
  esac
done
printf '%s\n' "${summary[@]}"
exit $status
