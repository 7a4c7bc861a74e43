#!/bin/sh
# Prove a backup restores: load the newest dump of DIRECTORY (or the given FILE) into
# a scratch database, print what it holds, then drop it.
#
#     sudo -u postgres /srv/covered/deploy/restore-check.sh /var/backups/covered
#
# Run as a PostgreSQL role that may create databases (postgres). Prints the schema's
# migration revision and the number of practices, users, clients, appointments and
# payments; compare them with the live database (the counts can only have grown).
set -eu
source="${1:?usage: restore-check.sh DIRECTORY|FILE}"
if [ -d "$source" ]; then
    dump=$(ls -1 "$source"/covered-*.dump 2>/dev/null | sort | tail -n 1)
    [ -n "$dump" ] || { echo "no covered-*.dump in $source" >&2; exit 1; }
else
    dump="$source"
fi
scratch="${RESTORE_DATABASE:-covered_restore_check}"
dropdb --if-exists "$scratch"
createdb "$scratch"
trap 'dropdb --if-exists "$scratch"' EXIT
pg_restore --dbname="$scratch" --no-owner --no-privileges --exit-on-error "$dump"
echo "restored $dump"
psql --dbname="$scratch" --no-psqlrc --tuples-only --no-align --field-separator=' ' <<'SQL'
SELECT 'revision', version_num FROM alembic_version;
SELECT 'organizations', count(*) FROM organizations;
SELECT 'users', count(*) FROM users;
SELECT 'clients', count(*) FROM clients;
SELECT 'encounters', count(*) FROM encounters;
SELECT 'payments', count(*) FROM payments;
SQL
