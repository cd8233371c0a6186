#!/usr/bin/env bash
# Run by the postgres image's entrypoint on the demo database's first start (docker-compose.yml):
# loads our Koji schema subset and the demo data set, each file in one transaction.
set -euo pipefail
for file in /koji/schema/koji-1.32.sql /koji/schema/koji-1.33.sql /koji/schema/koji-1.34.sql \
            /koji/schema/koji-1.35.sql /koji/datasets/demo.sql; do
    psql -q -X -v ON_ERROR_STOP=1 -1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$file"
done
