#!/bin/sh
# The database tier: listen on the fleet's network, a role and a database for the app.
set -eu
conf=$(ls -d /etc/postgresql/*/main | head -n 1)
echo "listen_addresses = '*'" > "$conf/conf.d/listen.conf"
echo "host shop app samenet scram-sha-256" >> "$conf/pg_hba.conf"
systemctl restart postgresql
runuser -u postgres -- psql -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE app LOGIN PASSWORD 'app';
CREATE DATABASE shop OWNER app;
\c shop
CREATE TABLE items (name text PRIMARY KEY, price numeric NOT NULL);
ALTER TABLE items OWNER TO app;
INSERT INTO items VALUES ('tea', 3.50), ('coffee', 4.20);
SQL
