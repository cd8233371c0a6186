-- demo.sql: a small but believable Koji site.
--
-- Load on top of the schema at level 1.35 (schema/koji-1.32.sql, then
-- koji-1.33.sql, koji-1.34.sql, koji-1.35.sql), in ONE transaction:
--     psql -v ON_ERROR_STOP=1 -1 -f demo.sql
--
-- Every timestamp is relative to now() of the loading transaction. The
-- "random" choices come from hashes of row numbers, so each load produces the
-- same rows; only the timestamps move with the clock. Scratch tables and
-- helper functions live in pg_temp and are dropped at the end.
--
-- Outline: events -> accounts -> channels/hosts -> tags/packages/targets ->
-- a simulated month of jobs (tasks, builds, tagging, repos) cut at now() ->
-- sessions, scheduler tables, host load -> sequences.


-- ===========================================================================
-- 0. Helpers
-- ===========================================================================

-- deterministic pseudo-random number in [0, 1) from a key and a salt
create function pg_temp.rnd(k bigint, salt integer) returns float8
language sql immutable as $$
    select (hashint8extended(k, salt) & 4503599627370495)::float8 / 4503599627370496.0
$$;

-- Events: hourly from 1130 days ago until 30 days ago (ids 1..26400), then
-- one per minute until now (ids 26401..69600). ev(t) = latest event <= t.
create function pg_temp.ev(t timestamptz) returns integer
language sql stable as $$
    select case
        when t is null then null
        when t < date_trunc('minute', now()) - interval '30 days' then
            greatest(1, 1 + floor(extract(epoch from
                t - (date_trunc('minute', now()) - interval '1130 days')) / 3600)::integer)
        else
            least(69600, 26401 + floor(extract(epoch from
                t - (date_trunc('minute', now()) - interval '30 days')) / 60)::integer)
    end
$$;

-- branch time of release r (f35 ... f42); f42 plays rawhide
create function pg_temp.t_rel(r integer) returns timestamptz
language sql stable as $$
    select date_trunc('minute', now()) - make_interval(days => (42 - r) * 150 + 60)
$$;

-- one of the active (not blocked) people, skewed towards the first ones
create function pg_temp.person(k bigint, salt integer) returns integer
language sql immutable as $$
    select (array[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16])
        [1 + floor(11 * pg_temp.rnd(k, salt) ^ 1.4)::integer]
$$;

-- time a task spends FREE/ASSIGNED: usually seconds, sometimes minutes
create function pg_temp.qwait(k bigint) returns interval
language sql immutable as $$
    select make_interval(secs => 2 + 25 * pg_temp.rnd(k, 120) ^ 2
        + case when pg_temp.rnd(k, 121) < 0.04 then 900 * pg_temp.rnd(k, 122) else 0 end)
$$;

-- version string of a package on release r
create function pg_temp.ver(pkg integer, r integer) returns text
language sql immutable as $$
    select (1 + floor(5 * pg_temp.rnd(pkg, 90)))::integer || '.'
        || (floor(20 * pg_temp.rnd(pkg, 91))::integer + coalesce(r, 35) - 35) || '.'
        || floor(10 * pg_temp.rnd(pkg * 100 + coalesce(r, 0), 92))::integer
$$;

-- tiny XML-RPC writers, for task.request / task.result
create function pg_temp.xs(v text) returns text language sql immutable as $$
    select '<value><string>'
        || replace(replace(replace(v, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')
        || '</string></value>'
$$;
create function pg_temp.xi(v bigint) returns text language sql immutable as $$
    select case when v is null then '<value><nil/></value>'
                else '<value><int>' || v || '</int></value>' end
$$;
create function pg_temp.xb(v boolean) returns text language sql immutable as $$
    select '<value><boolean>' || case when v then '1' else '0' end || '</boolean></value>'
$$;
create function pg_temp.xnil() returns text language sql immutable as $$
    select '<value><nil/></value>'
$$;
-- struct from name/value pairs: xstruct('a', xi(1), 'b', xs('x'))
create function pg_temp.xstruct(variadic kv text[]) returns text
language sql immutable as $$
    select E'<value><struct>\n'
        || coalesce(string_agg(E'<member>\n<name>' || kv[2 * i - 1] || E'</name>\n'
                               || kv[2 * i] || E'\n</member>\n', '' order by i), '')
        || '</struct></value>'
    from generate_series(1, coalesce(array_length(kv, 1), 0) / 2) as i
$$;
create function pg_temp.xstruct0() returns text language sql immutable as $$
    select E'<value><struct>\n</struct></value>'
$$;
create function pg_temp.xarr(variadic v text[]) returns text
language sql immutable as $$
    select E'<value><array><data>\n'
        || coalesce(string_agg(x || E'\n', '' order by n), '')
        || '</data></array></value>'
    from unnest(v) with ordinality as u(x, n)
$$;
create function pg_temp.xcall(method text, variadic params text[]) returns text
language sql immutable as $$
    select E'<?xml version=\'1.0\'?>\n<methodCall>\n<methodName>' || method
        || E'</methodName>\n<params>\n'
        || string_agg(E'<param>\n' || p || E'\n</param>\n', '' order by n)
        || E'</params>\n</methodCall>\n'
    from unnest(params) with ordinality as u(p, n)
$$;
create function pg_temp.xresp(v text) returns text language sql immutable as $$
    select E'<?xml version=\'1.0\'?>\n<methodResponse>\n<params>\n<param>\n' || v
        || E'\n</param>\n</params>\n</methodResponse>\n'
$$;
create function pg_temp.xfault(code integer, msg text) returns text
language sql immutable as $$
    select E'<?xml version=\'1.0\'?>\n<methodResponse>\n<fault>\n'
        || pg_temp.xstruct('faultCode', pg_temp.xi(code), 'faultString', pg_temp.xs(msg))
        || E'\n</fault>\n</methodResponse>\n'
$$;


-- ===========================================================================
-- 1. Events, permissions, accounts, channels
-- ===========================================================================

insert into events (id, time)
select i,
       case when i <= 26400
            then date_trunc('minute', now()) - interval '1130 days' + (i - 1) * interval '1 hour'
            else date_trunc('minute', now()) - interval '30 days' + (i - 26401) * interval '1 minute'
       end
from generate_series(1, 69600) as i;

insert into permissions (id, name)
select n, p
from unnest(array['admin', 'build', 'repo', 'tag', 'target', 'host', 'image',
                  'livecd', 'appliance', 'livemedia', 'dist-repo', 'sign',
                  'win-admin', 'draft-promoter']) with ordinality as t(p, n);

-- 1 admin, 2 kojira, 3 bodhi, 4 releng (service accounts), 5..16 people
-- (mallory = 15 is blocked), 17 a group; host accounts follow (18..37)
insert into users (id, name, password, status, usertype)
select n, u, null,
       case when u = 'mallory' then 1 else 0 end,
       case when u = 'provenpackager' then 2 else 0 end
from unnest(array['admin', 'kojira', 'bodhi', 'releng', 'alice', 'bob', 'carol',
                  'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy',
                  'mallory', 'oscar', 'provenpackager']) with ordinality as t(u, n);

-- the stock channels plus one disabled leftover
insert into channels (id, name, description, enabled, comment)
select n, c,
       case c when 'default' then 'everything without a more specific channel'
              when 'createrepo' then 'repo generation'
              when 'legacy' then 'old i686 bare-metal builders' end,
       c <> 'legacy',
       case when c = 'legacy' then 'disabled; kept for history' end
from unnest(array['default', 'createrepo', 'maven', 'livecd', 'appliance', 'vm',
                  'image', 'livemedia', 'legacy']) with ordinality as t(c, n);


-- ===========================================================================
-- 2. Build hosts
-- ===========================================================================

-- host plan: 10 x86_64 VMs, 6 aarch64 VMs, 2 i686 boxes, 2 big x86_64 boxes
create temp table hp as
select n,
       case when n <= 10 then 'buildvm-x86-' || lpad(n::text, 2, '0')
            when n <= 16 then 'buildvm-a64-' || lpad((n - 10)::text, 2, '0')
            when n <= 18 then 'buildhw-i686-' || lpad((n - 16)::text, 2, '0')
            else 'buildhw-x86-' || lpad((n - 18)::text, 2, '0')
       end || '.example.org' as name,
       case when n <= 10 and n % 3 = 0 then 'x86_64'
            when n <= 10 then 'x86_64 i686'
            when n <= 16 then 'aarch64'
            when n <= 18 then 'i686'
            else 'x86_64 i686' end as arches,
       (array[8, 4, 6, 8, 10, 12, 8, 6, 8, 10, 4, 6, 8, 8, 6, 8, 2, 3, 16, 16])[n]::float8 as capacity,
       n not in (7, 14, 17) as enabled,
       case n when 7 then now() - interval '2 days 3 hours'
              when 14 then now() - interval '3 hours 8 minutes'
              when 17 then now() - interval '20 days' end as disabled_at,
       -- age of the last check-in: seconds for live daemons; 5 stalled a few
       -- minutes ago, 12 and 18 are down, 14 died before being disabled,
       -- 17 never checked in since the 1.33 upgrade
       case n when 5 then interval '4 minutes 10 seconds'
              when 12 then interval '25 minutes'
              when 14 then interval '3 hours 12 minutes'
              when 18 then interval '2 hours 5 minutes'
              when 17 then null
              else make_interval(secs => 1 + (n * 7) % 28) end as update_age,
       now() - make_interval(days => 700 - n * 20) as created
from generate_series(1, 20) as n;

alter table hp add column dead_at timestamptz;
update hp set dead_at = case when update_age is null then disabled_at - interval '1 day'
                             when update_age > interval '1 minute' then now() - update_age end;

insert into users (id, name, password, status, usertype)
select 17 + n, name, null, 0, 1 from hp;

-- ready / task_load are filled in once the tasks exist (section 9)
insert into host (id, user_id, name, update_time, task_load, ready)
select n, 17 + n, name, now() - update_age, 0, false from hp;

-- host_config history: n % 3 earlier versions (capacity grew over time, one
-- maintenance window), plus the final "disabled" version for disabled hosts
create temp table hcv as
with vv as (
    select hp.n, hp.capacity, hp.enabled, hp.disabled_at, hp.created, hp.arches,
           n % 3 as k, v,
           case when v <= n % 3
                then hp.created + (coalesce(hp.disabled_at, now()) - interval '5 days' - hp.created)
                                  * v / (n % 3 + 1)
                else hp.disabled_at end as t_from,
           v = n % 3 + case when hp.disabled_at is not null then 1 else 0 end as is_last
    from hp, generate_series(0, n % 3 + case when disabled_at is not null then 1 else 0 end) as v
)
select n, v, t_from,
       lead(t_from) over (partition by n order by v) as t_to,
       arches,
       case when is_last or v = k then capacity else greatest(2, capacity - 2 * (k - v)) end as capacity,
       case when is_last then enabled when k = 2 and v = 1 then false else true end as enabled,
       case when is_last and not enabled then
                case n when 7 then 'maintenance: firmware upgrade'
                       when 14 then 'hardware failure, see ticket 4711'
                       else 'retired' end
            when k = 2 and v = 1 then 'maintenance: disk replacement' end as comment
from vv;

insert into host_config (host_id, arches, capacity, description, comment, enabled,
                         create_event, revoke_event, creator_id, revoker_id, active)
select v.n, v.arches, v.capacity,
       case when hp.n <= 16 then split_part(hp.arches, ' ', 1) || ' virtual machine'
            else split_part(hp.arches, ' ', 1) || ' bare metal' end,
       v.comment, v.enabled,
       pg_temp.ev(v.t_from), pg_temp.ev(v.t_to), 1,
       case when v.t_to is not null then 1 end,
       case when v.t_to is null then true end
from hcv v join hp using (n);

-- channel membership, with some history (host 2 left and re-joined default,
-- host 8 left createrepo, hosts 1-3 left maven)
create temp table hcp as
select n, 'default'::text as ch, created + interval '1 hour' as t_from,
       case when n = 2 then created + interval '100 days' end as t_to
from hp
union all
select n, 'default', created + interval '101 days', null from hp where n = 2
union all
select n, 'createrepo', created + interval '2 hours',
       case when n = 8 then now() - interval '10 days' end
from hp where n in (1, 2, 4, 8, 19)
union all
select n, 'maven', created + interval '2 hours',
       case when n <= 3 then now() - interval '60 days' end
from hp where n in (1, 2, 3, 9, 10)
union all
select n, c, created + interval '3 hours', null
from hp, unnest(array['image', 'livemedia']) as c where n in (15, 16, 19, 20)
union all
select n, c, created + interval '3 hours', null
from hp, unnest(array['livecd', 'appliance']) as c where n in (19, 20)
union all
select n, 'vm', created + interval '3 hours', null from hp where n = 20
union all
select n, 'legacy', created + interval '1 hour', null from hp where n in (17, 18);

insert into host_channels (host_id, channel_id, create_event, revoke_event,
                           creator_id, revoker_id, active)
select hcp.n, c.id, pg_temp.ev(hcp.t_from), pg_temp.ev(hcp.t_to), 1,
       case when hcp.t_to is not null then 1 end,
       case when hcp.t_to is null then true end
from hcp join channels c on c.name = hcp.ch;

-- where a task of (channel, arch) could run, and when
create temp table elig as
select c.n, c.ch, a.arch,
       greatest(c.t_from, v.t_from) as t_from,
       least(coalesce(c.t_to, 'infinity'), coalesce(v.t_to, 'infinity')) as t_to
from hcp c
join hcv v on v.n = c.n and v.enabled
          and v.t_from < coalesce(c.t_to, 'infinity')
          and c.t_from < coalesce(v.t_to, 'infinity')
join hp on hp.n = c.n
cross join lateral unnest(string_to_array(hp.arches, ' ') || 'noarch'::text) as a(arch);

alter table elig add column live boolean, add column dead_at timestamptz;
-- (host 3 is alive but short of disk space: it gets no running work)
update elig set live = hp.update_age < interval '1 minute' and hp.n <> 3, dead_at = hp.dead_at
from hp where hp.n = elig.n;
create index on elig (ch, arch);
analyze elig;


-- ===========================================================================
-- 3. Tags
-- ===========================================================================

create temp table tagp (
    k serial primary key,
    id integer,
    name text,
    kind text not null,
    r integer,
    created timestamptz not null,
    deleted timestamptz,
    locked_at timestamptz,
    arches text,
    eff_arches text,
    owner integer not null,
    parent_name text
);

-- eight tags per release f35..f42; f35-f38 are end-of-life (locked)
insert into tagp (name, kind, r, created, locked_at, arches, owner, parent_name)
select case when k.kind = 'base' then 'f' || r else 'f' || r || '-' || k.kind end,
       k.kind, r,
       pg_temp.t_rel(r) + (k.n - 1) * interval '2 minutes',
       case when r <= 38 then pg_temp.t_rel(r) + interval '600 days' end,
       case when k.kind = 'build' then
            case when r <= 40 then 'x86_64 aarch64 i686' else 'x86_64 aarch64' end end,
       4,
       case k.kind when 'updates' then 'f' || r
                   when 'updates-candidate' then 'f' || r || '-updates'
                   when 'updates-testing' then 'f' || r || '-updates'
                   when 'override' then 'f' || r || '-updates'
                   when 'build' then 'f' || r || '-override' end
from generate_series(35, 42) as r,
     unnest(array['base', 'updates', 'updates-candidate', 'updates-testing', 'override',
                   'build', 'signing-pending', 'updates-testing-pending'])
         with ordinality as k(kind, n);

insert into tagp (name, kind, created, owner)
values ('trashcan', 'trashcan', pg_temp.t_rel(35) + interval '1 day', 1);

-- 200 side tags of the last 90 days, each living 1-25 days (most are gone)
insert into tagp (name, kind, r, created, deleted, owner, parent_name)
select 'side-' || s.k, 'side', rr.r, s.created,
       case when s.created + s.life < now() then s.created + s.life end,
       pg_temp.person(s.k, 23), 'f' || rr.r || '-build'
from (select k, now() - interval '90 days' * pg_temp.rnd(k, 21) as created,
             interval '1 day' + interval '24 days' * pg_temp.rnd(k, 22) as life,
             pg_temp.rnd(k, 24) as x
      from generate_series(1, 200) as k) as s
cross join lateral (
    select case when s.x < 0.5 and s.created > pg_temp.t_rel(42) + interval '1 day' then 42
                when s.x < 0.8 then 41 else 40 end as r) as rr;

update tagp set id = x.rn
from (select k, row_number() over (order by created, k) as rn from tagp) as x
where tagp.k = x.k;
-- side tags are named after their id, as the sidetag plugin does
update tagp set name = 'f' || r || '-build-side-' || id where kind = 'side';
update tagp set eff_arches = arches where kind = 'build';
update tagp set eff_arches = b.arches from tagp b
where tagp.kind = 'side' and b.kind = 'build' and b.r = tagp.r;

insert into tag (id, name) select id, name from tagp order by id;

-- one config version per tag; EOL releases got a second, locked version
insert into tag_config (tag_id, arches, perm_id, locked, create_event, revoke_event,
                        creator_id, revoker_id, active)
select id, arches, null, false, pg_temp.ev(created),
       pg_temp.ev(coalesce(locked_at, deleted)), owner,
       case when coalesce(locked_at, deleted) is not null then owner end,
       case when coalesce(locked_at, deleted) is null then true end
from tagp
union all
select id, arches, 1, true, pg_temp.ev(locked_at), null, 4, null, true
from tagp where locked_at is not null;

insert into tag_inheritance (tag_id, parent_id, priority, maxdepth, intransitive, noconfig,
                             pkg_filter, create_event, revoke_event, creator_id,
                             revoker_id, active)
select t.id, p.id, 0, null, false, false, null,
       pg_temp.ev(t.created + interval '1 minute'), pg_temp.ev(t.deleted), t.owner,
       case when t.deleted is not null then t.owner end,
       case when t.deleted is null then true end
from tagp t join tagp p on p.name = t.parent_name;

-- build tags: mock settings (f41 switched package manager in mid-cycle);
-- side tags: who owns them
insert into tag_extra (tag_id, key, value, create_event, revoke_event, creator_id,
                       revoker_id, active)
select id, 'mock.package_manager', 'dnf', pg_temp.ev(created + interval '1 hour'),
       case when r = 41 then pg_temp.ev(created + interval '100 days') end, 4,
       case when r = 41 then 4 end, case when r <> 41 then true end
from tagp where kind = 'build' and r <= 41
union all
select id, 'mock.package_manager', 'dnf5',
       pg_temp.ev(case when r = 41 then created + interval '100 days'
                       else created + interval '1 hour' end), null, 4, null, true
from tagp where kind = 'build' and r >= 41
union all
select id, 'rpm.macro.dist', '%{!?distprefix0:%{?distprefix}}.fc' || r,
       pg_temp.ev(created + interval '1 hour'), null, 4, null, true
from tagp where kind = 'build'
union all
select t.id, x.key, x.value, pg_temp.ev(t.created + interval '1 minute'),
       pg_temp.ev(t.deleted), t.owner,
       case when t.deleted is not null then t.owner end,
       case when t.deleted is null then true end
from tagp t
cross join lateral (values ('sidetag', 'true'),
                           ('sidetag_user', (select name from users where id = t.owner)),
                           ('sidetag_user_id', t.owner::text)) as x(key, value)
where t.kind = 'side';


-- ===========================================================================
-- 4. Packages and package lists
-- ===========================================================================

create temp table pkgp (
    k serial primary key,
    id integer,
    name text not null,
    core boolean not null,
    cg boolean not null default false,
    r_b integer,
    r_d integer,
    owner integer,
    added timestamptz,
    retired timestamptz,
    noarch boolean
);

insert into pkgp (name, core)
select name, true
from unnest(array['bash', 'coreutils', 'glibc', 'gcc', 'kernel', 'systemd', 'openssl',
                  'curl', 'wget', 'zlib', 'xz', 'bzip2', 'vim', 'emacs', 'git', 'make',
                  'cmake', 'meson', 'ninja-build', 'rpm', 'dnf', 'httpd', 'nginx',
                  'postgresql', 'sqlite', 'redis', 'firefox', 'gimp', 'inkscape',
                  'libreoffice', 'mesa', 'gtk4', 'qt6-qtbase', 'perl', 'ruby', 'nodejs',
                  'golang', 'rust', 'llvm', 'boost']) as name
union all
-- language ecosystem packages: prefix x stem, about 70% of the combinations
select p || '-' || s, false
from unnest(array['python', 'perl', 'rust', 'golang', 'nodejs', 'ruby', 'php', 'ghc',
                  'R', 'lua']) as p,
     unnest(array['json', 'yaml', 'xml', 'http', 'crypto', 'test', 'log', 'uuid',
                  'regex', 'cli', 'config', 'time', 'color', 'path', 'glob', 'diff',
                  'hash', 'cache', 'async', 'queue', 'image', 'zip', 'csv', 'toml',
                  'markdown', 'template', 'i18n', 'term', 'socket', 'dns', 'smtp', 'ssh',
                  'sql', 'mock', 'fixture', 'parser', 'lexer', 'semver', 'retry',
                  'signal']) as s
where pg_temp.rnd(hashtext(p || '-' || s), 31) < 0.7;

-- container images built by a content generator; in no package list
insert into pkgp (name, core, cg)
select name || '-container', false, true
from unnest(array['httpd', 'nginx', 'postgresql', 'redis', 'nodejs', 'golang']) as name;

update pkgp set
    r_b = case when core or pg_temp.rnd(k, 32) < 0.55 then 35
               else 36 + floor((pg_temp.rnd(k, 32) - 0.55) / 0.45 * 7)::integer end,
    owner = pg_temp.person(k, 33),
    noarch = name ~ '^(perl|python|nodejs|ruby|php|lua)-' and pg_temp.rnd(k, 34) < 0.7
where not cg;
update pkgp set r_d = r_b + 1 + floor(pg_temp.rnd(k, 35) * (42 - r_b))::integer
where not cg and not core and r_b < 42 and pg_temp.rnd(k, 36) < 0.12;
update pkgp set
    added = case when r_b = 35 then pg_temp.t_rel(35) + interval '2 hours'
                 else pg_temp.t_rel(r_b) + interval '1 day'
                      + least(interval '140 days', now() - pg_temp.t_rel(r_b) - interval '3 days')
                        * pg_temp.rnd(k, 37) end,
    retired = case when r_d is not null then
                  pg_temp.t_rel(r_d) + interval '2 days'
                  + least(interval '140 days', now() - pg_temp.t_rel(r_d) - interval '4 days')
                    * pg_temp.rnd(k, 38) end
where not cg;
update pkgp set added = now() - interval '70 days', owner = 4 where cg;

update pkgp set id = x.rn
from (select k, row_number() over (order by added, k) as rn from pkgp) as x
where pkgp.k = x.k;

insert into package (id, name) select id, name from pkgp order by id;

-- package list rows of the release base tags fNN: listed from the release a
-- package appeared in; blocked from the release it was retired in
create temp table tpp as
select p.id as pkg_id, r, false as blocked,
       case when r = p.r_b then p.added else pg_temp.t_rel(r) + interval '5 minutes' end as t_from,
       case when r = p.r_d then p.retired end as t_to,
       p.owner
from pkgp p, generate_series(35, 42) as r
where not p.cg and r >= p.r_b and (p.r_d is null or r <= p.r_d)
union all
select p.id, r, true,
       case when r = p.r_d then p.retired else pg_temp.t_rel(r) + interval '5 minutes' end,
       null, p.owner
from pkgp p, generate_series(35, 42) as r
where not p.cg and p.r_d is not null and r >= p.r_d;

alter table tpp add column tag_id integer;
update tpp set tag_id = t.id from tagp t where t.kind = 'base' and t.r = tpp.r;

insert into tag_packages (package_id, tag_id, blocked, extra_arches, create_event,
                          revoke_event, creator_id, revoker_id, active)
select pkg_id, tag_id, blocked, null, pg_temp.ev(t_from), pg_temp.ev(t_to), 4,
       case when t_to is not null then 4 end,
       case when t_to is null then true end
from tpp;

-- owners follow the package list rows; a few rawhide packages changed hands
create temp table tpo as
select pkg_id, tag_id, owner, t_from, t_to,
       case when r = 42 and t_to is null and not blocked and t_from < now() - interval '26 days'
                 and pg_temp.rnd(pkg_id, 39) < 0.08
            then now() - interval '25 days' * pg_temp.rnd(pkg_id, 40) end as handover
from tpp;

insert into tag_package_owners (package_id, tag_id, owner, create_event, revoke_event,
                                creator_id, revoker_id, active)
select pkg_id, tag_id, owner, pg_temp.ev(t_from), pg_temp.ev(coalesce(handover, t_to)), 4,
       case when coalesce(handover, t_to) is not null then 4 end,
       case when coalesce(handover, t_to) is null then true end
from tpo
union all
select pkg_id, tag_id,
       case when pg_temp.person(pkg_id, 41) = owner then 16 else pg_temp.person(pkg_id, 41) end,
       pg_temp.ev(handover), null, 1, null, true
from tpo where handover is not null;


-- ===========================================================================
-- 5. Build targets
-- ===========================================================================

create temp table tgtp (
    name text not null,
    r integer,
    build_tag integer not null,
    dest_tag integer not null,
    t_from timestamptz not null,
    t_to timestamptz,
    creator integer not null
);

-- fNN-candidate for every release (EOL ones deleted), "rawhide" re-pointed
-- at each branching, and one target per side tag
insert into tgtp
select 'f' || g.r || '-candidate', g.r, b.id, d.id,
       pg_temp.t_rel(g.r) + interval '30 minutes', b.locked_at, 4
from generate_series(35, 42) as g(r)
join tagp b on b.kind = 'build' and b.r = g.r
join tagp d on d.kind = 'updates-candidate' and d.r = g.r
union all
select 'rawhide', g.r, b.id, d.id, pg_temp.t_rel(g.r) + interval '40 minutes',
       case when g.r < 42 then pg_temp.t_rel(g.r + 1) + interval '40 minutes' end, 4
from generate_series(39, 42) as g(r)
join tagp b on b.kind = 'build' and b.r = g.r
join tagp d on d.kind = 'updates-candidate' and d.r = g.r
union all
select name, r, id, id, created + interval '1 minute', deleted, owner
from tagp where kind = 'side';

insert into build_target (id, name)
select row_number() over (order by min(t_from), name), name
from tgtp group by name;

insert into build_target_config (build_target_id, build_tag, dest_tag, create_event,
                                 revoke_event, creator_id, revoker_id, active)
select bt.id, g.build_tag, g.dest_tag, pg_temp.ev(g.t_from), pg_temp.ev(g.t_to), g.creator,
       case when g.t_to is not null then g.creator end,
       case when g.t_to is null then true end
from tgtp g join build_target bt on bt.name = g.name;


-- ===========================================================================
-- 6. A month of jobs
-- ===========================================================================
-- A "job" is one top-level task and its subtasks. Each job is first planned
-- as if nothing went wrong, then cut short where it fails or is canceled,
-- and finally everything is cut at now(): tasks created after now() vanish,
-- the rest get the state they would have at this moment.

create temp table job (
    j integer primary key,
    kind text not null,
    c timestamptz,
    owner integer not null,
    outcome text not null default 'ok',
    pick float8,
    frac float8,
    target text,
    build_tag integer,
    dest_tag integer,
    r integer,
    pkg_id integer,
    scratch boolean not null default false,
    arches text[],
    tag_id integer,
    from_tag integer,
    build_k integer
);

-- candidate pools: packages listed (unblocked) in fNN for over a month
create temp table pool as
select r, row_number() over (partition by r order by pg_temp.rnd(pkg_id, 115)) as k, pkg_id
from tpp
where not blocked and t_to is null and t_from < now() - interval '30 days';
create temp table poolsize as select r, count(*) as cnt from pool group by r;
create index on pool (r, k);
analyze pool, poolsize, tagp, tgtp, pkgp;

-- 6a. build jobs: 2450 over 30 days, 40 more in the busier last 3 hours, a
-- backlog of 20 submitted in the last 8 minutes (they queue for a while),
-- and one special kernel build (j 9000) that lost a subtask to a dead host
insert into job (j, kind, c, owner, outcome, pick, frac, target, scratch)
select j, 'build',
       case when j <= 2450 then now() - interval '30 days' * pg_temp.rnd(j, 101)
            when j <= 2490 then now() - interval '3 hours' * pg_temp.rnd(j, 101)
            else now() - interval '8 minutes' * pg_temp.rnd(j, 101) end,
       pg_temp.person(j, 102),
       case when j > 2450 then case when pg_temp.rnd(j, 103) < 0.03 then 'fail' else 'ok' end
            when pg_temp.rnd(j, 103) < 0.10 then 'fail'
            when pg_temp.rnd(j, 103) < 0.15 then 'cancel'
            else 'ok' end,
       pg_temp.rnd(j, 104), pg_temp.rnd(j, 105),
       case when x < 0.30 then 'rawhide'
            when x < 0.50 then 'f41-candidate'
            when x < 0.66 then 'f40-candidate'
            when x < 0.74 then 'f39-candidate'
            when x < 0.80 then 'f42-candidate' end,
       pg_temp.rnd(j, 107) < 0.2
from generate_series(1, 2510) as j
cross join lateral (select pg_temp.rnd(j, 106) as x) as xx;

insert into job (j, kind, c, owner, target, pkg_id)
select 9000, 'build', now() - interval '50 minutes', 5, 'rawhide', id
from pkgp where name = 'kernel';

-- the remaining 20% build in a side tag that exists at the time
update job set target = s.name
from (select jb.j,
             (select t.name from tagp t
              where t.kind = 'side' and t.created < jb.c - interval '1 hour'
                and coalesce(t.deleted, 'infinity') > jb.c + interval '1 day'
              order by pg_temp.rnd(jb.j * 1000 + t.id, 108) limit 1) as name
      from job jb where jb.target is null) as s
where job.j = s.j;
update job set target = 'rawhide' where target is null;
update job set scratch = false where target like '%-side-%';

update job set build_tag = g.build_tag, dest_tag = g.dest_tag, r = g.r
from tgtp g
where g.name = job.target and g.t_from <= job.c and (g.t_to is null or job.c < g.t_to);

update job set pkg_id = pool.pkg_id
from pool, poolsize
where job.pkg_id is null and poolsize.r = job.r and pool.r = job.r
  and pool.k = 1 + floor(poolsize.cnt * pg_temp.rnd(job.j, 109) ^ 2)::integer;

update job set arches = case when p.noarch then array['noarch']
                             else string_to_array(t.eff_arches, ' ') end
from pkgp p, tagp t
where p.id = job.pkg_id and t.id = job.build_tag;

-- 6b. repo regeneration: every ~3 h per release build tag, every ~2.5 days
-- per side tag, plus two requests being served right now
insert into job (j, kind, c, owner, outcome, pick, frac, tag_id, arches)
select 100000 + row_number() over (order by x.t, x.tag_id), 'newrepo', x.t, 2,
       case when pg_temp.rnd(x.tag_id * 1000 + x.n, 132) < 0.02 then 'fail'
            when pg_temp.rnd(x.tag_id * 1000 + x.n, 132) < 0.03 then 'cancel'
            else 'ok' end,
       pg_temp.rnd(x.tag_id * 1000 + x.n, 133), pg_temp.rnd(x.tag_id * 1000 + x.n, 134),
       x.tag_id, string_to_array(x.eff_arches, ' ')
from (select t.id as tag_id, t.eff_arches, g.k as n,
             now() - interval '30 days' + g.k * interval '3 hours'
             + interval '150 minutes' * pg_temp.rnd(t.id * 1000 + g.k, 130) as t,
             null::timestamptz as deleted
      from tagp t, generate_series(0, 239) as g(k)
      where t.kind = 'build' and t.r >= 39
      union all
      select t.id, t.eff_arches, g.k,
             greatest(t.created, now() - interval '30 days') + interval '5 minutes'
             + g.k * interval '2 days 12 hours' + interval '12 hours' * pg_temp.rnd(t.id * 1000 + g.k, 131),
             t.deleted
      from tagp t, generate_series(0, 12) as g(k)
      where t.kind = 'side') as x
where x.t < now() - interval '10 minutes' and x.t < coalesce(x.deleted, 'infinity');

insert into job (j, kind, c, owner, tag_id, arches)
select 9300 + n, 'newrepo', now() - make_interval(secs => s), 2, t.id,
       string_to_array(t.eff_arches, ' ')
from (values (1, 42, 240), (2, 41, 90)) as v(n, r, s)
join tagp t on t.kind = 'build' and t.r = v.r;

-- 6c. everything else, a few dozen jobs of each kind
create temp table misc_kind as
select * from (values
    (1, 'waitrepo', 100, 'waitrepo', null, 'default', null::text[], false, 0.0, 60, 2400),
    (2, 'image', 40, 'image', 'createImage', 'image', array['x86_64', 'aarch64'], false, 2.0, 900, 3600),
    (3, 'livemedia', 40, 'livemedia', 'createLiveMedia', 'livemedia', array['x86_64', 'aarch64'], false, 2.0, 900, 3000),
    (4, 'appliance', 8, 'appliance', 'createAppliance', 'appliance', array['x86_64'], false, 2.0, 600, 2400),
    (5, 'livecd', 8, 'livecd', 'createLiveCD', 'livecd', array['x86_64'], false, 2.0, 600, 2400),
    (6, 'maven', 25, 'maven', 'buildMaven', 'maven', array['noarch'], false, 1.5, 300, 1800),
    (7, 'winbuild', 6, 'winbuild', 'vmExec', 'vm', array['noarch'], false, 3.0, 1200, 3600),
    (8, 'distrepo', 20, 'distRepo', 'createdistrepo', 'createrepo', array['x86_64', 'aarch64', 'i686'], true, 1.0, 300, 1500)
) as v(n, kind, cnt, pmethod, cmethod, channel, carches, clabel_only, cweight, dmin, dmax);

insert into job (j, kind, c, owner, outcome, pick, frac, target, tag_id, arches)
select 200000 + 1000 * m.n + i, m.kind,
       now() - interval '30 days' * pg_temp.rnd(m.n * 1000 + i, 141),
       pg_temp.person(m.n * 1000 + i, 142),
       case when pg_temp.rnd(m.n * 1000 + i, 143) < 0.08 then 'fail'
            when pg_temp.rnd(m.n * 1000 + i, 143) < 0.12 then 'cancel' else 'ok' end,
       pg_temp.rnd(m.n * 1000 + i, 144), pg_temp.rnd(m.n * 1000 + i, 145),
       case when pg_temp.rnd(m.n * 1000 + i, 146) < 0.6 then 'rawhide' else 'f41-candidate' end,
       t.id, m.carches
from misc_kind m
cross join generate_series(1, m.cnt) as i
join tagp t on t.r = case when pg_temp.rnd(m.n * 1000 + i, 146) < 0.6 then 42 else 41 end
           and t.kind = case when m.kind = 'distrepo' then 'updates' else 'build' end;

-- a long image build that is still running, and a task stuck in the
-- disabled channel
insert into job (j, kind, c, owner, target, tag_id, arches)
select 9100, 'image', now() - interval '5 hours', 6, 'rawhide', id, array['x86_64', 'aarch64']
from tagp where kind = 'build' and r = 42;
insert into job (j, kind, c, owner, tag_id)
select 9200, 'runroot', now() - interval '95 minutes', 4, id
from tagp where kind = 'build' and r = 40;

update job set build_tag = g.build_tag, dest_tag = g.dest_tag, r = g.r
from tgtp g
where job.kind not in ('build', 'newrepo', 'distrepo') and job.target is not null
  and g.name = job.target and g.t_from <= job.c and (g.t_to is null or job.c < g.t_to);


-- 6d. task plan
create temp table tp (
    j integer not null,
    sub integer not null,          -- 0 = top-level task
    phase integer not null,        -- phase p starts when phase p-1 has ended
    method text not null,
    label text,
    arch text not null,
    channel text not null,
    owner integer not null,
    weight float8 not null,
    priority integer not null,
    q interval not null,           -- time spent FREE/ASSIGNED
    dur interval not null,         -- run time (parents: wrap-up time)
    c timestamptz, a timestamptz, s timestamptz, e timestamptz,
    es integer not null default 2, -- terminal state reached at e
    st integer,                    -- state as of now()
    host_n integer,
    freed_from integer,
    id integer,
    parent_id integer,
    waiting boolean,
    awaited boolean,
    request text,
    result text,
    primary key (j, sub)
);

-- build: srpm, then one buildArch per arch, then tagBuild (not for scratch)
insert into tp (j, sub, phase, method, label, arch, channel, owner, weight, priority, q, dur)
select j, 0, 0, 'build', null, 'noarch', 'default', owner, 0.2, 20,
       pg_temp.qwait(j * 100), make_interval(secs => 2 + 3 * pg_temp.rnd(j, 110))
from job where kind = 'build'
union all
select j, 1, 1, 'buildSRPMFromSCM', 'srpm', 'noarch', 'default', owner, 1.0, 19,
       pg_temp.qwait(j * 100 + 1), make_interval(secs => 60 + 360 * pg_temp.rnd(j, 111))
from job where kind = 'build'
union all
select j, 1 + a.n::integer, 2, 'buildArch', a.arch, a.arch, 'default', owner,
       round((1.5 + 1.5 * pg_temp.rnd(pkg_id, 112))::numeric, 2)::float8, 19,
       pg_temp.qwait(j * 100 + 1 + a.n),
       make_interval(secs => 90 * exp(4.0 * pg_temp.rnd(pkg_id, 114))
                             * case a.arch when 'aarch64' then 1.25 when 'i686' then 0.9
                                           when 'noarch' then 0.6 else 1.0 end
                             * (0.85 + 0.3 * pg_temp.rnd(j * 100 + a.n, 113)))
from job, unnest(arches) with ordinality as a(arch, n) where kind = 'build'
union all
select j, 20, 3, 'tagBuild', null, 'noarch', 'default', owner, 0.2, 19,
       pg_temp.qwait(j * 100 + 20), make_interval(secs => 3 + 15 * pg_temp.rnd(j, 116))
from job where kind = 'build' and not scratch;

-- newRepo: one createrepo per arch
insert into tp (j, sub, phase, method, label, arch, channel, owner, weight, priority, q, dur)
select j, 0, 0, 'newRepo', null, 'noarch', 'createrepo', owner, 0.2, 15,
       pg_temp.qwait(j * 100), make_interval(secs => 20 + 40 * pg_temp.rnd(j, 135))
from job where kind = 'newrepo'
union all
select j, a.n::integer, 1, 'createrepo', a.arch, 'noarch', 'createrepo', owner,
       round((0.5 + pg_temp.rnd(j * 100 + a.n, 136))::numeric, 2)::float8, 14,
       pg_temp.qwait(j * 100 + a.n),
       make_interval(secs => 40 + 300 * pg_temp.rnd(j * 100 + a.n, 137))
from job, unnest(arches) with ordinality as a(arch, n) where kind = 'newrepo';

-- the other kinds: a parent, and one child per arch where applicable
insert into tp (j, sub, phase, method, label, arch, channel, owner, weight, priority, q, dur)
select job.j, 0, 0, m.pmethod, null, 'noarch', m.channel, job.owner,
       case when m.cmethod is null then 0.2 + 0.8 * pg_temp.rnd(job.j, 147) else 0.2 end, 20,
       pg_temp.qwait(job.j * 100),
       case when m.cmethod is null
            then make_interval(secs => m.dmin + (m.dmax - m.dmin) * pg_temp.rnd(job.j, 148))
            else make_interval(secs => 3 + 10 * pg_temp.rnd(job.j, 148)) end
from job join misc_kind m on m.kind = job.kind
union all
select job.j, a.n::integer, 1, m.cmethod, a.arch,
       case when m.clabel_only then 'noarch' else a.arch end,
       m.channel, job.owner, m.cweight, 19, pg_temp.qwait(job.j * 100 + a.n),
       make_interval(secs => m.dmin + (m.dmax - m.dmin) * pg_temp.rnd(job.j * 100 + a.n, 149))
from job join misc_kind m on m.kind = job.kind
cross join lateral unnest(job.arches) with ordinality as a(arch, n)
where m.cmethod is not null
union all
select j, 0, 0, 'runroot', null, 'i686', 'legacy', owner, 1.0, 20,
       interval '30 days', interval '10 minutes'
from job where kind = 'runroot';

-- special cases: the kernel build's arch tasks take hours; the image runs 9 h
update tp set dur = interval '3 hours', q = interval '20 seconds' where j = 9000 and phase = 2;
update tp set dur = interval '9 hours', q = interval '30 seconds' where j = 9100 and sub > 0;
-- the backlog waits for free capacity
update tp set q = make_interval(secs => 60 + 900 * pg_temp.rnd(j, 117))
where j between 2491 and 2510 and sub = 0;
analyze tp;

-- 6e. timeline, phase by phase
update tp set c = job.c from job where tp.j = job.j and tp.sub = 0;
update tp set a = c + q * 0.5, s = c + q, e = c + q + dur where phase = 0;

update tp set c = p.s + make_interval(secs => 1 + tp.sub)
from tp p where p.j = tp.j and p.sub = 0 and tp.phase = 1;
update tp set a = c + q * 0.5, s = c + q, e = c + q + dur where phase = 1;

update tp set c = x.t + make_interval(secs => 4 + tp.sub)
from (select j, max(e) as t from tp where phase = 1 group by j) as x
where x.j = tp.j and tp.phase = 2;
update tp set a = c + q * 0.5, s = c + q, e = c + q + dur where phase = 2;

update tp set c = x.t + interval '10 seconds'
from (select j, max(e) as t from tp where phase = 2 group by j) as x
where x.j = tp.j and tp.phase = 3;
update tp set a = c + q * 0.5, s = c + q, e = c + q + dur where phase = 3;

-- a parent closes a few seconds after its last subtask
update tp set e = x.t + tp.dur
from (select j, max(e) as t from tp where sub > 0 group by j) as x
where x.j = tp.j and tp.sub = 0;

analyze tp;

-- 6f. failures and cancellations. A failing job: one task fails at f, the
-- parent fails 3 s later and cancels whatever still runs. A canceled job:
-- everything unfinished is canceled at x.
create temp table jcut (j integer primary key, fsub integer, f timestamptz, x timestamptz);

insert into jcut (j, fsub, f)
select distinct on (tp.j) tp.j, tp.sub, tp.s + (tp.e - tp.s) * (0.2 + 0.7 * job.frac)
from tp join job using (j)
where job.outcome = 'fail'
  and case when job.kind = 'build' then
               case when job.pick < 0.15 then tp.sub = 1 else tp.phase = 2 end
           else tp.sub > 0 or not exists (select 1 from tp t2 where t2.j = tp.j and t2.sub > 0)
      end
order by tp.j, pg_temp.rnd(tp.j * 100 + tp.sub, 140);
update jcut set x = f + interval '3 seconds';

insert into jcut (j, fsub, f, x)
select tp.j, null, null, tp.c + (tp.e - tp.c) * job.frac
from tp join job using (j)
where job.outcome = 'cancel' and tp.sub = 0;

delete from tp using jcut where tp.j = jcut.j and tp.c > jcut.x;

update tp set
    es = case when tp.sub = jcut.fsub then 5
              when tp.sub = 0 and jcut.fsub is not null then 5
              else 3 end,
    e = case when tp.sub = jcut.fsub then jcut.f else jcut.x end,
    s = case when tp.s > jcut.x then null else tp.s end,
    a = case when tp.a > jcut.x then null else tp.a end
from jcut
where tp.j = jcut.j and (tp.e > jcut.x or tp.sub = jcut.fsub or tp.sub = 0);

-- 6g. cut at now()
delete from tp where c > now();
update tp set st = case when e <= now() then es
                        when s <= now() then 1
                        when a <= now() then 4
                        else 0 end;
analyze tp, job;

-- the kernel build's aarch64 task was freed from host 12 after it stopped
-- checking in: FREE again, start_time left over from the first attempt
update tp set st = 0, freed_from = 12
where j = 9000 and label = 'aarch64' and st = 1;


-- ===========================================================================
-- 7. Builds and tagging
-- ===========================================================================

create temp table bp (
    k serial primary key,
    id integer,
    kind text not null,            -- hist (imported), job, cg
    pkg_id integer not null,
    r integer,
    j integer,
    start_time timestamptz not null,
    completion_time timestamptz,
    state integer not null,
    owner integer not null,
    volume_id integer not null default 0,
    cg_id integer,
    version text,
    release text,
    draft boolean not null default false,
    promotion_time timestamptz,
    promoter integer,
    deleted_at timestamptz
);

-- builds made by this month's build tasks (not scratch; srpm must exist)
insert into bp (kind, pkg_id, r, j, start_time, completion_time, state, owner)
select 'job', job.pkg_id, job.r, job.j, srpm.e + interval '3 seconds',
       case when job.outcome = 'ok' then
                case when ba.n = cardinality(job.arches) and ba.t + interval '8 seconds' <= now()
                     then ba.t + interval '8 seconds' end
            when par.e <= now() then par.e end,
       case when job.outcome = 'ok' then
                case when ba.n = cardinality(job.arches) and ba.t + interval '8 seconds' <= now()
                     then 1 else 0 end
            when par.e <= now() then case job.outcome when 'fail' then 3 else 4 end
            else 0 end,
       job.owner
from job
join tp srpm on srpm.j = job.j and srpm.sub = 1
join tp par on par.j = job.j and par.sub = 0
left join (select j, max(e) as t, count(*) as n from tp where phase = 2 group by j) as ba
       on ba.j = job.j
where job.kind = 'build' and not job.scratch
  and srpm.es = 2 and srpm.e + interval '3 seconds' <= now();

-- older builds, imported without tasks: one per package per release, made
-- soon after the package entered that release; EOL ones on the archive volume
insert into volume (id, name) values (1, 'archive');

insert into bp (kind, pkg_id, r, start_time, completion_time, state, owner, volume_id)
select 'hist', pkg_id, r, t - interval '20 minutes', t, 1, 4,
       case when r <= 38 then 1 else 0 end
from (select pkg_id, r,
             t_from + interval '1 hour'
             + (least(t_from + interval '20 days', coalesce(t_to, 'infinity'),
                      now() - interval '31 days') - t_from - interval '1 hour')
               * pg_temp.rnd(pkg_id * 100 + r, 160) as t,
             least(t_from + interval '20 days', coalesce(t_to, 'infinity'),
                   now() - interval '31 days') as hi,
             t_from
      from tpp where not blocked) as x
where x.hi > x.t_from + interval '2 hours';

-- a few old builds were untagged, sent to the trashcan and deleted
update bp set state = 2, deleted_at = completion_time + interval '200 days'
where kind = 'hist' and completion_time < now() - interval '250 days'
  and pg_temp.rnd(k, 161) < 0.03;

-- content generator (container) builds
insert into content_generator (id, name) values (1, 'osbs'), (2, 'image-builder');

insert into bp (kind, pkg_id, start_time, completion_time, state, owner, cg_id)
select 'cg', p.id, t, case when st <> 0 then t + interval '25 minutes' end, st,
       pg_temp.person(i, 162), 1
from generate_series(1, 30) as i
join pkgp p on p.cg and p.k = (select min(k) from pkgp where cg) + (i % 6)
cross join lateral (
    select case when i >= 29 then now() - interval '10 minutes' * i / 29
                else now() - interval '60 days' * pg_temp.rnd(i, 163) end as t,
           case when i >= 29 then 0 when i in (7, 19) then 3 else 1 end as st) as v;

update bp set version = pg_temp.ver(pkg_id, r), release = x.n || '.fc' || r
from (select k, row_number() over (partition by pkg_id, r order by start_time, k) as n
      from bp where kind <> 'cg') as x
where bp.k = x.k;
update bp set version = '1.' || (pkg_id % 5), release = x.n::text
from (select k, row_number() over (partition by pkg_id order by start_time, k) as n
      from bp where kind = 'cg') as x
where bp.k = x.k;

update bp set id = x.rn
from (select k, row_number() over (order by start_time, k) as rn from bp) as x
where bp.k = x.k;

-- a handful of f41 builds are drafts, a few more were drafts and got promoted
with picked as (
    select k, row_number() over (order by pg_temp.rnd(k, 164)) as n
    from bp where kind = 'job' and state = 1 and r = 41
)
update bp set draft = picked.n <= 5,
              release = case when picked.n <= 5 then release || ',draft_' || id else release end,
              promotion_time = case when picked.n > 5
                                    then least(now(), completion_time + interval '1 hour') end,
              promoter = case when picked.n > 5 then 4 end
from picked where picked.k = bp.k and picked.n <= 9;

-- tag_listing plan
create temp table tlp (
    build_k integer not null,
    tag_id integer not null,
    t_from timestamptz not null,
    t_to timestamptz,
    creator integer not null,
    revoker integer,
    notify integer,                -- owner of the tagNotification task, if any
    from_tag integer
);

-- the tagBuild subtask tags into the target's destination tag
insert into tlp (build_k, tag_id, t_from, creator, notify)
select b.k, job.dest_tag, tb.e - interval '1 second', job.owner, job.owner
from bp b
join job on job.j = b.j
join tp tb on tb.j = b.j and tb.sub = 20
where b.kind = 'job' and b.state = 1 and tb.st = 2;

-- bodhi moves most release builds onward: rawhide candidate -> f42 after a
-- few hours; stable: candidate -> updates-testing -> updates
create temp table mv as
select l.build_k, l.tag_id as cand, job.r,
       case when job.r = 42 then l.t_from + interval '1 hour' + interval '5 hours' * pg_temp.rnd(l.build_k, 150)
            else l.t_from + interval '12 hours' + interval '36 hours' * pg_temp.rnd(l.build_k, 150) end as t1,
       interval '7 days' + interval '7 days' * pg_temp.rnd(l.build_k, 151) as d2
from tlp l
join bp b on b.k = l.build_k
join job on job.j = b.j
join tagp d on d.id = l.tag_id and d.kind = 'updates-candidate'
where pg_temp.rnd(l.build_k, 152) >= 0.1;
delete from mv where t1 > now();

update tlp set t_to = mv.t1, revoker = 3
from mv where mv.build_k = tlp.build_k and mv.cand = tlp.tag_id;

insert into tlp (build_k, tag_id, t_from, t_to, creator, revoker, notify, from_tag)
select mv.build_k, t.id, mv.t1,
       case when mv.r < 42 and mv.t1 + mv.d2 <= now() then mv.t1 + mv.d2 end,
       3, case when mv.r < 42 and mv.t1 + mv.d2 <= now() then 3 end, 3, mv.cand
from mv
join tagp t on t.r = mv.r and t.kind = case when mv.r = 42 then 'base' else 'updates-testing' end;

insert into tlp (build_k, tag_id, t_from, creator, notify, from_tag)
select mv.build_k, u.id, mv.t1 + mv.d2, 3, 3, ut.id
from mv
join tagp u on u.r = mv.r and u.kind = 'updates'
join tagp ut on ut.r = mv.r and ut.kind = 'updates-testing'
where mv.r < 42 and mv.t1 + mv.d2 <= now();

-- side tag content is untagged when the side tag is removed
update tlp set t_to = t.deleted, revoker = t.owner
from tagp t where t.id = tlp.tag_id and t.kind = 'side' and t.deleted is not null;

-- imported builds sit in their release tag; deleted ones passed the trashcan
insert into tlp (build_k, tag_id, t_from, t_to, creator, revoker)
select b.k, t.id, b.completion_time + interval '2 minutes', b.deleted_at, 4,
       case when b.deleted_at is not null then 4 end
from bp b join tagp t on t.kind = 'base' and t.r = b.r
where b.kind = 'hist';
insert into tlp (build_k, tag_id, t_from, t_to, creator, revoker)
select b.k, t.id, b.deleted_at, b.deleted_at + interval '14 days', 4, 4
from bp b join tagp t on t.kind = 'trashcan'
where b.kind = 'hist' and b.deleted_at is not null;

-- every tag operation above (this month) sends a tagNotification task
insert into job (j, kind, c, owner, tag_id, from_tag, build_k)
select 300000 + row_number() over (order by t_from, build_k, tag_id), 'notify',
       t_from + make_interval(secs => 1 + 3 * pg_temp.rnd(build_k * 10 + tag_id, 153)),
       notify, tag_id, from_tag, build_k
from tlp where notify is not null;

insert into tp (j, sub, phase, method, arch, channel, owner, weight, priority, q, dur, es)
select j, 0, 0, 'tagNotification', 'noarch', 'default', owner, 0.2, 10,
       make_interval(secs => 1 + 20 * pg_temp.rnd(j, 154) ^ 2),
       make_interval(secs => 1 + 3 * pg_temp.rnd(j, 155)),
       case when pg_temp.rnd(j, 156) < 0.01 then 5 else 2 end
from job where kind = 'notify' and c <= now();

update tp set c = job.c from job where tp.j = job.j and tp.method = 'tagNotification';
update tp set a = c + q * 0.5, s = c + q, e = c + q + dur,
              st = case when c + q + dur <= now() then es
                        when c + q <= now() then 1
                        when c + q * 0.5 <= now() then 4 else 0 end
where method = 'tagNotification';


-- ===========================================================================
-- 8. Tasks
-- ===========================================================================

-- waiting parents and awaited children, as of now()
update tp set waiting = case
        when exists (select 1 from tp ch where ch.j = tp.j and ch.sub > 0)
        then tp.st = 1 and exists (select 1 from tp ch
                                   where ch.j = tp.j and ch.sub > 0 and ch.st in (0, 1, 4))
    end
where sub = 0;
update tp set awaited = tp.st in (0, 1, 4) and p.waiting
from tp p where p.j = tp.j and p.sub = 0 and tp.sub > 0;

-- pick a host that served the channel and arch at the time, was enabled,
-- and was still alive when the task ended (live hosts only for running tasks)
update tp set host_n = (
    select e.n
    from elig e
    where e.ch = tp.channel and e.arch = tp.arch
      and coalesce(tp.a, tp.s) >= e.t_from and coalesce(tp.a, tp.s) < e.t_to
      and case when tp.st in (1, 4) then e.live
               else e.dead_at is null or coalesce(tp.e, now()) < e.dead_at end
    order by pg_temp.rnd(tp.j * 100 + tp.sub + e.n * 7919, 170)
    limit 1)
where coalesce(tp.a, tp.s) is not null and tp.st <> 0;

-- ids in creation order
update tp set id = x.rn
from (select j, sub, row_number() over (order by c, j, sub) as rn from tp) as x
where tp.j = x.j and tp.sub = x.sub;
update tp set parent_id = p.id from tp p where p.j = tp.j and p.sub = 0 and tp.sub > 0;
analyze tp;


-- ===========================================================================
-- 9. Repos
-- ===========================================================================

-- a repo row is made when its newRepo/distRepo task starts; READY when the
-- task closes, EXPIRED when the next one of the tag is READY, DELETED half a
-- day later (or when its side tag goes); PROBLEM if the task did not close
create temp table rp as
select job.j, job.tag_id, job.kind = 'distrepo' as dist, job.c as c_req,
       par.s + interval '5 seconds' as created,
       case when par.st = 2 then par.e end as ready_at,
       case when par.st in (3, 5) then par.e end as problem_at,
       pg_temp.rnd(job.j, 171) < 0.05 as debuginfo,
       null::timestamptz as expired_at, null::timestamptz as deleted_at,
       null::integer as id, null::integer as state, null::timestamptz as state_time
from job join tp par on par.j = job.j and par.sub = 0
where job.kind in ('newrepo', 'distrepo')
  and par.s is not null and par.s + interval '5 seconds' <= now();

update rp set expired_at = x.nxt
from (select j, lead(ready_at) over (partition by tag_id, dist order by ready_at) as nxt
      from rp where ready_at is not null) as x
where rp.j = x.j;
update rp set deleted_at = expired_at + interval '12 hours'
where expired_at + interval '12 hours' <= now();
update rp set deleted_at = least(coalesce(rp.deleted_at, 'infinity'), greatest(t.deleted, rp.ready_at))
from tagp t
where t.id = rp.tag_id and t.kind = 'side' and t.deleted is not null and rp.ready_at is not null;
update rp set
    state = case when deleted_at is not null then 3
                 when expired_at is not null then 2
                 when ready_at is not null then 1
                 when problem_at is not null then 4
                 else 0 end,
    state_time = coalesce(deleted_at, expired_at, ready_at, problem_at, created);
update rp set id = x.rn
from (select j, row_number() over (order by created, j) as rn from rp) as x
where rp.j = x.j;
create index on rp (j);
create index on rp (tag_id, ready_at);
analyze rp;

-- the repo each build job used: the newest READY one of its build tag
alter table job add column repo_id integer;
update job set repo_id = x.id
from (select id, tag_id, ready_at,
             lead(ready_at) over (partition by tag_id order by ready_at) as next_ready
      from rp where not dist and ready_at is not null) as x
where job.kind = 'build' and x.tag_id = job.build_tag
  and job.c >= x.ready_at and job.c < coalesce(x.next_ready, 'infinity');


-- ===========================================================================
-- 10. Requests and results of the tasks
-- ===========================================================================

-- build
update tp set request = pg_temp.xcall('build',
        pg_temp.xs('git+https://src.example.org/rpms/' || p.name || '.git#'
                   || md5(job.j::text) || left(md5(p.name), 8)),
        pg_temp.xs(job.target),
        case when job.scratch then pg_temp.xstruct('scratch', pg_temp.xb(true))
             else pg_temp.xstruct0() end)
from job join pkgp p on p.id = job.pkg_id
where tp.j = job.j and tp.method = 'build';

update tp set request = pg_temp.xcall('buildSRPMFromSCM',
        pg_temp.xs('git+https://src.example.org/rpms/' || p.name || '.git#'
                   || md5(job.j::text) || left(md5(p.name), 8)),
        pg_temp.xi(job.build_tag),
        pg_temp.xstruct('repo_id', pg_temp.xi(job.repo_id)))
from job join pkgp p on p.id = job.pkg_id
where tp.j = job.j and tp.method = 'buildSRPMFromSCM';

update tp set request = pg_temp.xcall('buildArch',
        pg_temp.xs('work/tasks/' || (srpm.id % 10000) || '/' || srpm.id || '/'
                   || p.name || '-' || pg_temp.ver(p.id, job.r) || '-'
                   || coalesce(b.release, '0.1.fc' || job.r) || '.src.rpm'),
        pg_temp.xi(job.build_tag),
        pg_temp.xs(tp.arch),
        pg_temp.xb(tp.sub = 2),
        pg_temp.xstruct('repo_id', pg_temp.xi(job.repo_id)))
from job
join pkgp p on p.id = job.pkg_id
join tp srpm on srpm.j = job.j and srpm.sub = 1
left join bp b on b.j = job.j
where tp.j = job.j and tp.method = 'buildArch';

update tp set request = pg_temp.xcall('tagBuild', pg_temp.xi(job.dest_tag), pg_temp.xi(b.id),
        pg_temp.xb(false), pg_temp.xnil(), pg_temp.xb(false))
from job left join bp b on b.j = job.j
where tp.j = job.j and tp.method = 'tagBuild';

update tp set request = pg_temp.xcall('tagNotification',
        pg_temp.xarr(pg_temp.xs(u.name || '@example.org')), pg_temp.xb(true),
        pg_temp.xi(job.tag_id), pg_temp.xi(job.from_tag), pg_temp.xi(b.id),
        pg_temp.xi(job.owner), pg_temp.xb(false), pg_temp.xnil())
from job join bp b on b.k = job.build_k join users u on u.id = job.owner
where tp.j = job.j and tp.method = 'tagNotification';

update tp set request = pg_temp.xcall('newRepo',
        pg_temp.xstruct('id', pg_temp.xi(t.id), 'name', pg_temp.xs(t.name)),
        pg_temp.xnil(), pg_temp.xb(false), pg_temp.xb(coalesce(rp.debuginfo, false)),
        pg_temp.xb(false))
from job join tagp t on t.id = job.tag_id left join rp on rp.j = job.j
where tp.j = job.j and tp.method = 'newRepo';

update tp set request = pg_temp.xcall('createrepo', pg_temp.xi(rp.id), pg_temp.xs(tp.label),
        pg_temp.xnil())
from job left join rp on rp.j = job.j
where tp.j = job.j and tp.method = 'createrepo';

update tp set request = pg_temp.xcall('distRepo', pg_temp.xs(t.name), pg_temp.xi(rp.id),
        pg_temp.xarr(pg_temp.xs('a1b2c3d4')), pg_temp.xstruct('arch', pg_temp.xarr(
            pg_temp.xs('x86_64'), pg_temp.xs('aarch64'), pg_temp.xs('i686'))))
from job join tagp t on t.id = job.tag_id left join rp on rp.j = job.j
where tp.j = job.j and tp.method = 'distRepo';

update tp set request = pg_temp.xcall('createdistrepo', pg_temp.xs(t.name), pg_temp.xi(rp.id),
        pg_temp.xs(tp.label), pg_temp.xstruct0())
from job join tagp t on t.id = job.tag_id left join rp on rp.j = job.j
where tp.j = job.j and tp.method = 'createdistrepo';

update tp set request = pg_temp.xcall('waitrepo', pg_temp.xs(t.name), pg_temp.xnil(),
        pg_temp.xnil())
from job join tagp t on t.id = job.tag_id
where tp.j = job.j and tp.method = 'waitrepo';

update tp set request = pg_temp.xcall('runroot', pg_temp.xs(t.name), pg_temp.xs('i686'),
        pg_temp.xs('rpm -qa | sort'), pg_temp.xstruct0())
from job join tagp t on t.id = job.tag_id
where tp.j = job.j and tp.method = 'runroot';

-- image-like parents: name, version, arches, target, source, opts
update tp set request = pg_temp.xcall(tp.method,
        pg_temp.xs('Fedora-' || initcap(job.kind) || '-' || (job.j % 3 + 1)),
        pg_temp.xs(job.r::text),
        pg_temp.xarr(variadic (select array_agg(pg_temp.xs(a)) from unnest(job.arches) as a)),
        pg_temp.xs(job.target),
        pg_temp.xs('https://src.example.org/kickstarts.git#' || left(md5(job.j::text), 12)),
        pg_temp.xstruct0())
from job
where tp.j = job.j and tp.sub = 0 and tp.method in ('image', 'livemedia', 'appliance', 'livecd');

-- their children: name, version, release, arch, target info, build tag
update tp set request = pg_temp.xcall(tp.method,
        pg_temp.xs('Fedora-' || initcap(job.kind) || '-' || (job.j % 3 + 1)),
        pg_temp.xs(job.r::text), pg_temp.xs(to_char(job.c, 'YYYYMMDD') || '.n.0'),
        pg_temp.xs(tp.arch),
        pg_temp.xstruct('name', pg_temp.xs(job.target), 'build_tag', pg_temp.xi(job.build_tag),
                        'dest_tag', pg_temp.xi(job.dest_tag)),
        pg_temp.xi(job.build_tag))
from job
where tp.j = job.j and tp.sub > 0
  and tp.method in ('createImage', 'createLiveMedia', 'createAppliance', 'createLiveCD');

update tp set request = pg_temp.xcall(tp.method,
        pg_temp.xs('git+https://src.example.org/maven/app-' || (job.j % 7) || '.git#'
                   || left(md5(job.j::text), 12)),
        case when tp.sub = 0 then pg_temp.xs(job.target)
             else pg_temp.xstruct('name', pg_temp.xs(job.target)) end,
        pg_temp.xstruct0())
from job
where tp.j = job.j and tp.method in ('maven', 'buildMaven');

update tp set request = case when tp.sub = 0 then
        pg_temp.xcall('winbuild', pg_temp.xs('win-2022'),
            pg_temp.xs('git+https://src.example.org/win/tools.git#' || left(md5(job.j::text), 12)),
            pg_temp.xs(job.target), pg_temp.xstruct0())
    else
        pg_temp.xcall('vmExec', pg_temp.xs('win-2022'),
            pg_temp.xarr(pg_temp.xs('build.cmd')), pg_temp.xstruct0())
    end
from job
where tp.j = job.j and tp.method in ('winbuild', 'vmExec');

-- results: closed tasks get a response, failed ones a fault
update tp set result = pg_temp.xresp(case tp.method
        when 'buildArch' then pg_temp.xstruct(
            'brootid', pg_temp.xi(tp.id * 2),
            'logs', pg_temp.xarr(pg_temp.xs('build.log'), pg_temp.xs('root.log'),
                                 pg_temp.xs('mock_output.log')),
            'rpms', pg_temp.xarr(pg_temp.xs('tasks/' || tp.id || '/' || tp.arch || '.rpm')))
        when 'buildSRPMFromSCM' then pg_temp.xstruct(
            'brootid', pg_temp.xi(tp.id * 2),
            'logs', pg_temp.xarr(pg_temp.xs('build.log'), pg_temp.xs('root.log')),
            'srpm', pg_temp.xs('work/tasks/' || (tp.id % 10000) || '/' || tp.id || '/srpm.src.rpm'))
        when 'newRepo' then pg_temp.xarr(pg_temp.xi(rp.id), pg_temp.xi(pg_temp.ev(rp.c_req)))
        when 'createrepo' then pg_temp.xarr(
            pg_temp.xs('repos/' || tp.label),
            pg_temp.xarr(pg_temp.xs('repomd.xml'), pg_temp.xs('primary.xml.zst')))
        when 'tagNotification' then pg_temp.xs('sent notification')
        else pg_temp.xnil() end)
from tp t2 left join rp on rp.j = t2.j and t2.sub = 0
where t2.j = tp.j and t2.sub = tp.sub and tp.st = 2;

update tp set result = pg_temp.xfault(case when tp.method in ('buildArch', 'buildSRPMFromSCM', 'build')
                                           then 1005 else 1000 end,
    case when tp.method in ('buildArch', 'build') then
             'BuildError: error building package (arch ' || coalesce(tp.label, 'noarch')
             || '), mock exited with status 1; see build.log for more information'
         when tp.method = 'buildSRPMFromSCM' then
             'BuildError: error building srpm, mock exited with status 1'
         when tp.method in ('newRepo', 'createrepo') then
             'GenericError: createrepo_c exited with status 1'
         when tp.method = 'waitrepo' then
             'GenericError: Unsuccessfully waited 60 minutes for a new repo'
         else 'GenericError: task failed' end)
where st = 5;

insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id,
                  parent, label, waiting, awaited, owner, method, request, result, eta,
                  arch, priority, weight)
select tp.id, tp.st, tp.c,
       case when tp.s <= now() then tp.s end,
       case when tp.st in (2, 3, 5) then tp.e end,
       ch.id, tp.host_n, tp.parent_id, tp.label, tp.waiting, tp.awaited, tp.owner,
       tp.method, tp.request, tp.result, null, tp.arch, tp.priority, tp.weight
from tp join channels ch on ch.name = tp.channel
order by tp.id;

insert into build (id, volume_id, pkg_id, version, release, epoch, draft, source,
                   create_event, start_time, completion_time, promotion_time, state,
                   task_id, owner, promoter, cg_id, extra)
select b.id, b.volume_id, b.pkg_id, b.version, b.release,
       case when b.kind <> 'cg' and pg_temp.rnd(b.pkg_id, 165) < 0.1 then 1 end,
       b.draft,
       case when b.kind = 'job' then 'git+https://src.example.org/rpms/' || p.name || '.git#'
                                     || md5(b.j::text) || left(md5(p.name), 8) end,
       pg_temp.ev(b.start_time), b.start_time, b.completion_time, b.promotion_time, b.state,
       par.id, b.owner, b.promoter, b.cg_id,
       case when b.kind = 'job' then
                json_build_object('source', json_build_object('original_url',
                    'git+https://src.example.org/rpms/' || p.name || '.git#'
                    || md5(b.j::text) || left(md5(p.name), 8)))::text
            when b.kind = 'cg' then '{"typeinfo": {"image": {}}}' end
from bp b
join pkgp p on p.id = b.pkg_id
left join tp par on par.j = b.j and par.sub = 0
order by b.id;

insert into tag_listing (build_id, tag_id, create_event, revoke_event, creator_id,
                         revoker_id, active)
select b.id, l.tag_id, pg_temp.ev(l.t_from), pg_temp.ev(l.t_to), l.creator, l.revoker,
       case when l.t_to is null then true end
from tlp l join bp b on b.k = l.build_k;

insert into repo (id, create_event, tag_id, state, dist, task_id, creation_time, state_time,
                  begin_event, end_event, opts, custom_opts)
select rp.id, pg_temp.ev(rp.c_req), rp.tag_id, rp.state, rp.dist, par.id, rp.created,
       rp.state_time,
       pg_temp.ev(rp.c_req) - floor(30 * pg_temp.rnd(rp.j, 172))::integer,
       case when nxt.c_req is not null
                then least(69600, greatest(pg_temp.ev(rp.c_req) + 1, pg_temp.ev(nxt.c_req) - 1))
            when t.deleted is not null then pg_temp.ev(t.deleted) end,
       case when not rp.dist then jsonb_build_object('src', false, 'debuginfo', rp.debuginfo,
                                                     'separate_src', false) end,
       case when rp.debuginfo then '{"debuginfo": true}'::jsonb end
from rp
join tp par on par.j = rp.j and par.sub = 0
join tagp t on t.id = rp.tag_id
left join (select j, lead(c_req) over (partition by tag_id, dist order by created, j) as c_req
           from rp) as nxt on nxt.j = rp.j
order by rp.id;

-- the repo request queue: this month's last two days of requests (served or
-- in progress), plus three fresh requests no task has picked up yet
insert into repo_queue (id, create_time, owner, priority, tag_id, at_event, min_event, opts,
                        update_time, active, task_id, tries, repo_id)
select row_number() over (order by q.create_time, q.j), q.create_time, q.owner, q.priority,
       q.tag_id,
       case when q.exact then pg_temp.ev(q.create_time) end,
       case when not q.exact then pg_temp.ev(q.create_time) end,
       q.opts, q.update_time, q.active, q.task_id, q.tries, q.repo_id
from (
    select job.j, job.c - make_interval(secs => 5 + 50 * pg_temp.rnd(job.j, 173)) as create_time,
           case when pg_temp.rnd(job.j, 174) < 0.1 then pg_temp.person(job.j, 175) else 2 end as owner,
           case when pg_temp.rnd(job.j, 174) < 0.1 then 10 else 20 end as priority,
           job.tag_id,
           pg_temp.rnd(job.j, 174) < 0.05 as exact,
           case when rp.debuginfo then '{"debuginfo": true}'::jsonb else '{}'::jsonb end as opts,
           case when par.st in (2, 3, 5) then par.e else greatest(par.c, coalesce(par.s, par.c)) end
               as update_time,
           par.st not in (2, 3, 5) as active,
           par.id as task_id, 1 as tries,
           case when par.st = 2 then rp.id end as repo_id
    from job
    join tp par on par.j = job.j and par.sub = 0
    left join rp on rp.j = job.j
    where job.kind = 'newrepo' and job.c >= now() - interval '2 days'
    union all
    select -n, now() - make_interval(secs => 20 * n), 2, 20, t.id, false, '{}'::jsonb,
           now() - make_interval(secs => 20 * n), true, null, 0, null
    from (select id, row_number() over (order by created desc) as n
          from tagp where kind = 'side' and deleted is null) as t
    where t.n <= 3
) as q;


-- ===========================================================================
-- 11. Host state, sessions, scheduler
-- ===========================================================================

-- task_load = weight of the open, non-waiting tasks (live hosts); stale
-- hosts keep what they last reported
update host set task_load = least(hp.capacity, round(coalesce(x.load, 0)::numeric, 2)::float8)
from hp
left join (select host_n, sum(weight) as load from tp
           where st = 1 and waiting is not true group by host_n) as x on x.host_n = hp.n
where host.id = hp.n and hp.update_age < interval '1 minute';
update host set task_load = case id when 5 then 3.5 when 12 then 2.0 when 14 then 1.5 else 0 end
where id in (5, 12, 14, 17, 18);

-- ready: live, enabled and below capacity; host 3 is short of disk space;
-- host 14 keeps a stale "ready" because it was disabled before the
-- scheduler could notice it had died
update host set ready = hp.enabled and hp.update_age < interval '1 minute'
                        and host.task_load < hp.capacity and hp.n <> 3
from hp where host.id = hp.n;
update host set ready = true where id = 14;

-- sessions: each builder's exclusive daemon session (plus an older expired
-- one for half of them), one subsession per running task, people's logins
create temp table sp (
    k serial primary key,
    id integer,
    user_id integer not null,
    master_k integer,
    expired boolean not null default false,
    closed boolean not null default false,
    exclusive boolean,
    authtype integer,
    hostip text,
    callnum integer,
    start_time timestamptz not null,
    update_time timestamptz not null,
    renew_time timestamptz,
    host_n integer
);

insert into sp (user_id, expired, closed, exclusive, authtype, hostip, callnum, start_time,
                update_time, host_n)
select 17 + n, n = 17, n = 17, case when n <> 17 then true end,
       case when n > 16 then 1 else 2 end,
       '10.16.' || (n / 10) || '.' || (100 + n),
       1000 + floor(60000 * pg_temp.rnd(n, 180))::integer,
       coalesce(now() - update_age, disabled_at - interval '1 day')
           - interval '1 day' - interval '10 days' * pg_temp.rnd(n, 181),
       coalesce(now() - update_age, disabled_at - interval '1 day'),
       n
from hp;

insert into sp (user_id, expired, closed, authtype, hostip, callnum, start_time, update_time)
select user_id, true, true, authtype, hostip, floor(90000 * pg_temp.rnd(k, 182))::integer,
       start_time - interval '30 days', start_time - interval '2 minutes'
from sp where host_n % 2 = 0 and exclusive;

insert into sp (user_id, master_k, authtype, hostip, callnum, start_time, update_time)
select m.user_id, m.k, m.authtype, m.hostip, floor(200 * pg_temp.rnd(tp.id, 183))::integer,
       tp.s, greatest(tp.s, now() - interval '45 seconds' * pg_temp.rnd(tp.id, 184))
from tp join sp m on m.host_n = tp.host_n and m.exclusive
where tp.st = 1;

-- people and service accounts: live logins and expired old ones
insert into sp (user_id, authtype, hostip, callnum, start_time, update_time, renew_time)
select u, 3, '192.0.2.' || u, floor(500 * pg_temp.rnd(u, 185))::integer, st,
       greatest(st, now() - case when u in (2, 3) then interval '10 seconds'
                                 else interval '30 minutes' end * pg_temp.rnd(u, 187)),
       case when u = 1 then now() - interval '1 hour' * pg_temp.rnd(u, 188) end
from generate_series(1, 16) as u
cross join lateral (select now() - interval '8 hours' * pg_temp.rnd(u, 186) as st) as x
where u <= 4 or (u <> 15 and pg_temp.rnd(u, 189) < 0.5);
update sp set renew_time = null where renew_time < start_time;

insert into sp (user_id, expired, closed, authtype, hostip, callnum, start_time, update_time)
select u, true, pg_temp.rnd(u * 10 + i, 190) < 0.5, 3, '192.0.2.' || u,
       floor(500 * pg_temp.rnd(u * 10 + i, 191))::integer,
       now() - interval '1 day' - interval '20 days' * pg_temp.rnd(u * 10 + i, 192),
       now() - interval '1 day' - interval '20 days' * pg_temp.rnd(u * 10 + i, 192)
           + interval '4 hours' * pg_temp.rnd(u * 10 + i, 193)
from generate_series(5, 16) as u, generate_series(1, 2) as i;

update sp set id = x.rn
from (select k, row_number() over (order by start_time, k) as rn from sp) as x
where sp.k = x.k;

insert into sessions (id, user_id, expired, master, key, authtype, hostip, callnum,
                      start_time, update_time, exclusive, closed, renew_time)
select s.id, s.user_id, s.expired, m.id, s.id || '-' || left(md5('session' || s.k), 20),
       s.authtype, s.hostip, s.callnum, s.start_time, s.update_time, s.exclusive, s.closed,
       s.renew_time
from sp s left join sp m on m.k = s.master_k
order by s.id;

-- what each daemon reported about itself (not the dead/retired i686 boxes)
insert into scheduler_host_data (host_id, data)
select n, jsonb_build_object(
    'methods',
    to_jsonb(array['build', 'buildArch', 'buildSRPMFromSCM', 'buildNotification',
                   'chainbuild', 'chainmaven', 'createAppliance', 'createImage',
                   'createLiveCD', 'createLiveMedia', 'createdistrepo', 'createrepo',
                   'dependantTask', 'distRepo', 'image', 'livecd', 'livemedia',
                   'maven', 'buildMaven', 'newRepo', 'rebuildSRPM', 'restart',
                   'restartHosts', 'restartVerify', 'tagBuild', 'tagNotification',
                   'waitrepo', 'winbuild', 'vmExec', 'wrapperRPM']
             || case when n >= 19 then array['runroot'] else array[]::text[] end),
    'maxjobs', case when n >= 19 then 20 when n >= 17 then 5 else 10 end)
from hp where n not in (17, 18);

insert into scheduler_sys_data (name, data)
values ('last_run_ts', to_jsonb(round(extract(epoch from now())::numeric - 23, 3)));

-- scheduler runs of the last two days (the current ones active)
insert into scheduler_task_runs (id, task_id, host_id, active, create_time)
select row_number() over (order by a, id), id, coalesce(host_n, freed_from), st in (1, 4), a
from tp
where coalesce(host_n, freed_from) is not null and a is not null
  and a >= now() - interval '2 days';

-- some waiting tasks were declined by a busy host
insert into scheduler_task_refusals (id, task_id, host_id, by_host, soft, msg, time)
select row_number() over (order by tp.id), tp.id, h.n, true, true, 'Full queue',
       tp.c + (now() - tp.c) * pg_temp.rnd(tp.id, 194)
from tp
cross join lateral (
    select e.n from elig e
    where e.ch = tp.channel and e.arch = tp.arch and e.t_to = 'infinity' and e.live
    order by pg_temp.rnd(tp.id * 100 + e.n, 195) limit 1) as h
where tp.st = 0 and tp.channel <> 'legacy' and tp.freed_from is null
  and pg_temp.rnd(tp.id, 196) < 0.5;

insert into scheduler_log_messages (id, task_id, host_id, msg_time, msg)
select row_number() over (order by t, task_id, host_id), task_id, host_id, t, msg
from (
    select r.task_id, r.host_id, r.create_time as t, 'Assigning task' as msg
    from scheduler_task_runs r where r.create_time >= now() - interval '6 hours'
    union all
    select null, n, now() - update_age + interval '3 minutes 30 seconds', 'Marking host not ready'
    from hp where n in (5, 12, 18)
    union all
    select id, 12, now() - interval '10 minutes', 'Freeing task from unresponsive host'
    from tp where freed_from = 12
) as m;


-- ===========================================================================
-- 12. Sequences, so that later inserts continue after the data above
-- ===========================================================================

select count(setval(pg_get_serial_sequence(t, 'id'), coalesce(m, 0) + 1, false))
from (values ('events', (select max(id) from events)),
             ('permissions', (select max(id) from permissions)),
             ('users', (select max(id) from users)),
             ('sessions', (select max(id) from sessions)),
             ('channels', (select max(id) from channels)),
             ('host', (select max(id) from host)),
             ('task', (select max(id) from task)),
             ('tag', (select max(id) from tag)),
             ('package', (select max(id) from package)),
             ('build_target', (select max(id) from build_target)),
             ('volume', (select max(id) from volume)),
             ('content_generator', (select max(id) from content_generator)),
             ('build', (select max(id) from build)),
             ('repo', (select max(id) from repo)),
             ('repo_queue', (select max(id) from repo_queue)),
             ('scheduler_task_runs', (select max(id) from scheduler_task_runs)),
             ('scheduler_task_refusals', (select max(id) from scheduler_task_refusals)),
             ('scheduler_log_messages', (select max(id) from scheduler_log_messages)))
     as v(t, m);


-- ===========================================================================
-- 13. Clean up the scratch objects
-- ===========================================================================

drop table hp, hcv, hcp, elig, tagp, pkgp, tpp, tpo, tgtp, job, pool, poolsize, misc_kind,
           tp, jcut, bp, tlp, mv, rp, sp;
drop function pg_temp.rnd(bigint, integer), pg_temp.ev(timestamptz), pg_temp.t_rel(integer),
              pg_temp.person(bigint, integer), pg_temp.qwait(bigint),
              pg_temp.ver(integer, integer), pg_temp.xs(text), pg_temp.xi(bigint),
              pg_temp.xb(boolean), pg_temp.xnil(), pg_temp.xstruct(text[]), pg_temp.xstruct0(),
              pg_temp.xarr(text[]), pg_temp.xcall(text, text[]), pg_temp.xresp(text),
              pg_temp.xfault(integer, text);
