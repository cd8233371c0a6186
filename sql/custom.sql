-- Statements of the site-metric checks. Site metrics' own SQL is not here: it comes from the
-- configuration, and the check plans it (EXPLAIN without ANALYZE, never run) before it may run.

-- name: function_facts
-- What the catalog says about the functions a site query's plan names: $1 are function names,
-- $2 their schemas ('' when the plan does not qualify the name; every schema is then taken, so
-- the check errs on the side of refusing), $3 operator symbols (their underlying functions).
-- Small catalog look-ups; the arrays hold a few dozen names.
with wanted as (
    select w.name, nullif(w.schema, '') as schema from unnest($1::text[], $2::text[]) as w (name, schema)
), called as (
    select w.name || '()' as called_as, p.oid
    from wanted w
    join pg_proc p on p.proname = w.name
    join pg_namespace n on n.oid = p.pronamespace
    where w.schema is null or n.nspname = w.schema
    union all
    select o.oprname::text, o.oprcode::oid
    from pg_operator o
    where o.oprname = any ($3::text[]) and o.oprcode <> 0
)
select distinct
    c.called_as,
    n.nspname::text as schema,
    p.proname::text as name,
    p.provolatile::text as volatility,
    e.extname::text as extension,
    v.trusted
from called c
join pg_proc p on p.oid = c.oid
join pg_namespace n on n.oid = p.pronamespace
left join pg_depend d
    on d.classid = 'pg_proc'::regclass and d.objid = p.oid
    and d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
left join pg_extension e on e.oid = d.refobjid
left join pg_available_extension_versions v on v.name = e.extname and v.version = e.extversion

-- name: session_intact
-- After the site metrics ran on a connection: true when no setting was changed for the session
-- (SET or set_config(..., false) make its source 'session'; the safety settings of src/db.rs are
-- startup parameters, so they also still equal their reset value) and the session holds no
-- advisory lock. Otherwise the connection is closed rather than handed back to the pool.
select
    not exists (
        select 1 from pg_settings
        where source = 'session'
            or (name in ('default_transaction_read_only', 'statement_timeout', 'lock_timeout',
                         'idle_in_transaction_session_timeout')
                and setting is distinct from reset_val)
    )
    and current_setting('default_transaction_read_only') = 'on'
    and not exists (select 1 from pg_locks where locktype = 'advisory' and pid = pg_backend_pid())
    as intact

-- name: role_privileges
-- Whether the exporter's role could write, for a warning at start: superuser, and the tables of
-- the schema holding Koji's `task` table (else the current schema) it may insert into, update,
-- delete from or truncate. One pass over that schema's pg_class rows.
with koji as (
    select coalesce(
        (select relnamespace from pg_class where oid = to_regclass('task')),
        (select oid from pg_namespace where nspname = current_schema())
    ) as oid
)
select
    current_user::text as role,
    r.rolsuper as superuser,
    (select nspname::text from pg_namespace where oid = koji.oid) as schema,
    (select count(*) from pg_class c
     where c.relnamespace = koji.oid and c.relkind in ('r', 'p')
        and has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) as writable,
    (select string_agg(relname, ', ' order by relname) from (
        select c.relname::text as relname from pg_class c
        where c.relnamespace = koji.oid and c.relkind in ('r', 'p')
            and has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
        order by c.relname limit 3) as t) as examples
from pg_roles r, koji
where r.rolname = current_user
