-- prepare.sql: session set-up for a bulk fill.
--
-- Reads the fill parameters from the custom settings sim.* (set by the Rust side), records them
-- in a temporary table, and creates small pg_temp helper functions with those parameters baked
-- in as literals, so the planner can inline them into the big INSERT ... SELECT statements.
-- Every "random" choice is a hash of a row number and a salt, offset by the seed: the same seed
-- gives the same rows, only the timestamps follow the clock.

set synchronous_commit = off;
set maintenance_work_mem = '1GB';
set work_mem = '256MB';
-- JIT compiling costs a second per statement here and buys little for these expressions
set jit = off;

create temp table sim as
select
    current_setting('sim.seed')::bigint as seed,
    floor(extract(epoch from now()))::float8 as t_now,
    floor(extract(epoch from now()))::float8 - current_setting('sim.days')::float8 * 86400 as t_start,
    current_setting('sim.days')::float8 * 86400 / current_setting('sim.events')::int as step,
    current_setting('sim.events')::int as events,
    current_setting('sim.tasks')::int as tasks,
    current_setting('sim.hosts')::int as hosts,
    current_setting('sim.tags')::int as tags,
    current_setting('sim.packages')::int as packages,
    current_setting('sim.builds')::int as builds,
    current_setting('sim.listings')::int as listings,
    current_setting('sim.people')::int as people,
    current_setting('sim.releases')::int as releases;

do $do$
declare
    s record;
begin
    select * into s from sim;
    -- uniform number in [0, 1) from a key and a salt
    execute format($f$
        create function pg_temp.rnd(k bigint, salt integer) returns float8
        language sql immutable parallel safe as
        'select (hashint8extended(k, %s + salt) & 4503599627370495)::float8 / 4503599627370496.0'
    $f$, s.seed * 1000);
    -- the event current at an epoch time (events are evenly spaced over the history)
    execute format($f$
        create function pg_temp.ev(t float8) returns integer
        language sql immutable parallel safe as
        'select least(%s, greatest(1, 1 + floor((t - %s) / %s)::integer))'
    $f$, s.events, s.t_start, s.step);
    -- the epoch time of an event
    execute format($f$
        create function pg_temp.evt(e integer) returns float8
        language sql immutable parallel safe as 'select %s + (e - 1) * %s::float8'
    $f$, s.t_start, s.step);
    -- a person (users 5 .. 4 + people), the first ones much busier
    execute format($f$
        create function pg_temp.person(k bigint, salt integer) returns integer
        language sql immutable parallel safe as
        'select 5 + floor(%s * pg_temp.rnd(k, salt) ^ 1.6)::integer'
    $f$, s.people);
    -- tag names: eight per release fNN, then side tags fNN-build-side-<id>
    execute format($f$
        create function pg_temp.tagname(id integer) returns text
        language sql immutable parallel safe as $b$
        select case when id <= 8 * %1$s
            then 'f' || (42 - %1$s + (id - 1) / 8 + 1) || (array['', '-updates', '-updates-candidate',
                '-updates-testing', '-override', '-build', '-signing-pending',
                '-updates-testing-pending'])[(id - 1) %% 8 + 1]
            else 'f' || (42 - id %% 4) || '-build-side-' || id end
        $b$
    $f$, s.releases);
end
$do$;

-- package names: a language prefix, a word and the id (unique by the id)
create function pg_temp.pkgname(p integer) returns text
language sql immutable parallel safe as $$
    select (array['python-', 'perl-', 'golang-', 'rust-', '', 'lib', 'nodejs-', 'ghc-', 'texlive-', 'R-'])[1 + p % 10]
        || (array['foo', 'yaml', 'json', 'http', 'crypto', 'xml', 'ssl', 'png', 'gtk', 'qt', 'glib', 'zstd',
                  'sqlite', 'dbus', 'tools'])[1 + (p / 10) % 15]
        || p
$$;

-- the four build arches, in the order jobs use them
create function pg_temp.arch(i integer) returns text
language sql immutable parallel safe as $$
    select (array['x86_64', 'aarch64', 'ppc64le', 's390x'])[i]
$$;

-- XML-RPC fragments for task.request and task.result (short, but shaped like Koji's)
create function pg_temp.xs(v text) returns text language sql immutable parallel safe as $$
    select '<value><string>' || v || '</string></value>'
$$;
create function pg_temp.xi(v bigint) returns text language sql immutable parallel safe as $$
    select '<value><int>' || v || '</int></value>'
$$;
create function pg_temp.xp(v text) returns text language sql immutable parallel safe as $$
    select E'<param>\n' || v || E'\n</param>\n'
$$;
create function pg_temp.xcall(method text, params text) returns text language sql immutable parallel safe as $$
    select E'<?xml version=\'1.0\'?>\n<methodCall>\n<methodName>' || method || E'</methodName>\n<params>\n'
        || params || E'</params>\n</methodCall>\n'
$$;
create function pg_temp.xresp(v text) returns text language sql immutable parallel safe as $$
    select E'<?xml version=\'1.0\'?>\n<methodResponse>\n<params>\n<param>\n' || v
        || E'\n</param>\n</params>\n</methodResponse>\n'
$$;

-- Foreign keys and plain (non-constraint) indexes are dropped for the load and rebuilt at the
-- end: one validating join per key and one sorted index build are far cheaper than checking and
-- inserting row by row. Their definitions are kept here, in the order they must come back.
create temp table sim_saved_ddl (ord serial primary key, what text not null, ddl text not null);

insert into sim_saved_ddl (what, ddl)
select 'index ' || c.relname, pg_get_indexdef(i.indexrelid)
from pg_index i
join pg_class c on c.oid = i.indexrelid
where i.indrelid in ('task'::regclass, 'build'::regclass, 'tag_listing'::regclass, 'tag_packages'::regclass)
  and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
order by c.relname;

insert into sim_saved_ddl (what, ddl)
select 'foreign key ' || k.conrelid::regclass || '.' || k.conname,
       format('alter table %s add constraint %I %s', k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid))
from pg_constraint k
where k.contype = 'f' and k.connamespace = 'public'::regnamespace
order by k.conrelid::regclass::text, k.conname;

do $$
declare
    r record;
begin
    for r in
        select format('alter table %s drop constraint %I', conrelid::regclass, conname) as ddl
        from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace
    loop
        execute r.ddl;
    end loop;
    for r in
        select format('drop index %s', i.indexrelid::regclass) as ddl
        from pg_index i
        where i.indrelid in ('task'::regclass, 'build'::regclass, 'tag_listing'::regclass, 'tag_packages'::regclass)
          and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
    loop
        execute r.ddl;
    end loop;
end
$$;

-- runs the n-th saved statement (called once per statement, so progress can be shown)
create function pg_temp.restore_ddl(n integer) returns text
language plpgsql as $$
declare
    d record;
begin
    select what, ddl into d from sim_saved_ddl where ord = n;
    execute d.ddl;
    return d.what;
end
$$;
