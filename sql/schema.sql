-- Schema feature probes (run on every new connection).
--
-- Koji keeps no schema-version marker, so the exporter looks for the tables and columns each
-- release added. Only catalog look-ups: the cost does not depend on the size of Koji's tables.
-- to_regclass() and the attribute look-ups follow the session's search_path, so a Koji schema
-- outside "public" works when the role's search_path names it.

-- name: features
select
    to_regclass('host') is not null and to_regclass('host_config') is not null
        and to_regclass('host_channels') is not null and to_regclass('channels') is not null
        as has_host_tables,
    exists (
        select 1 from pg_attribute
        where attrelid = to_regclass('channels') and attname = 'enabled' and not attisdropped
    ) as has_channel_enabled,
    exists (
        select 1 from pg_attribute
        where attrelid = to_regclass('sessions') and attname = 'closed' and not attisdropped
    ) as has_session_closed,
    exists (
        select 1 from pg_attribute
        where attrelid = to_regclass('host') and attname = 'update_time' and not attisdropped
    ) as has_host_update_time,
    to_regclass('scheduler_host_data') is not null as has_scheduler,
    to_regclass('repo_queue') is not null as has_repo_queue,
    pg_is_in_recovery() as in_recovery,
    current_setting('server_version_num')::int4 as server_version_num
