#!/bin/sh
# Dump Covered's database into DIRECTORY and keep DAYS days of dumps:
#
#     deploy/covered deploy/backup.sh /var/backups/covered 14
#
# Writes DIRECTORY/covered-<UTC time>.dump (pg_dump's custom format, which
# pg_restore reads), checks that the archive reads back, deletes dumps older than
# DAYS days and prints the new file's path. Needs DATABASE_URL (deploy/covered sets it).
set -eu
directory="${1:?usage: backup.sh DIRECTORY [DAYS]}"
days="${2:-14}"
# SQLAlchemy's "postgresql+psycopg://" is libpq's "postgresql://"
url=$(printf '%s' "${DATABASE_URL:?DATABASE_URL is not set}" | sed 's/^postgres[a-z]*+[a-z0-9]*:/postgresql:/')
umask 027  # the folder is setgid postgres: the restore check (run as postgres) reads the dumps
stamp=$(date -u +%Y%m%dT%H%M%SZ)
target="$directory/covered-$stamp.dump"
pg_dump --dbname="$url" --format=custom --no-owner --no-privileges --file="$target.partial"
pg_restore --list "$target.partial" >/dev/null
mv "$target.partial" "$target"
find "$directory" -maxdepth 1 -name 'covered-*.dump' -mtime "+$days" -delete
echo "$target"
