-- base.sql: everything except the task history: events, accounts, channels, hosts, sessions,
-- tags with their configuration history and inheritance, packages and package lists, targets.
--
-- Ids are given explicitly (sequences are moved past them at the end). Layout of users:
-- 1 admin, 2 kojira, 3 bodhi, 4 releng, 5 .. 4+P people, 5+P the packagers group,
-- 6+P .. 5+P+H one HOST account per builder.

insert into events (id, time)
select e, to_timestamp(pg_temp.evt(e)) from sim, generate_series(1, sim.events) as e;

insert into permissions (id, name, description)
select n, p, 'may ' || p
from unnest(array['admin', 'build', 'repo', 'tag', 'target', 'host', 'image', 'livecd', 'appliance',
                  'livemedia', 'dist-repo', 'sign', 'win-admin', 'draft-promoter']) with ordinality as t(p, n);

insert into users (id, name, password, status, usertype)
select n, u, null, 0, 0 from unnest(array['admin', 'kojira', 'bodhi', 'releng']) with ordinality as t(u, n);
insert into users (id, name, password, status, usertype)
select 4 + i, 'user' || i, null, case when pg_temp.rnd(i, 1) < 0.03 then 1 else 0 end, 0
from sim, generate_series(1, sim.people) as i;
insert into users (id, name, password, status, usertype)
select 5 + people, 'packagers', null, 0, 2 from sim;

insert into channels (id, name, description, enabled)
select n, c, 'the ' || c || ' channel', c <> 'legacy'
from unnest(array['default', 'createrepo', 'maven', 'livecd', 'appliance', 'vm', 'image', 'livemedia',
                  'runroot', 'legacy']) with ordinality as t(c, n);

insert into volume (id, name) values (1, 'archive');
insert into content_generator (id, name) values (1, 'osbs'), (2, 'kiwi');

-- Builders. Arch families repeat every ten hosts (five x86_64, three aarch64, one ppc64le, one
-- s390x), so hosts 1, 2, 4 and 8 are the first of each family; they stay healthy and serve every
-- channel, which guarantees each (channel, arch) has a live builder. Every 25th host is retired
-- (disabled), every 10th is up but idle (it holds none of the running work); one retired host
-- keeps a stale ready flag.
create temp table sim_host as
select h,
       (array['x86_64', 'aarch64', 'x86_64', 'ppc64le', 'x86_64', 'aarch64', 'x86_64', 's390x', 'x86_64',
              'aarch64'])[1 + (h - 1) % 10] as family,
       h % 25 = 24 as retired,
       h % 10 = 9 and h % 25 <> 24 as idle
from sim, generate_series(1, sim.hosts) as h;

insert into host (id, user_id, name, task_load, ready)
select h, 5 + sim.people + h,
       'buildvm-' || replace(family, '_', '-') || '-' || lpad(h::text, 3, '0') || '.example.org',
       0, h = 24
from sim, sim_host;

insert into users (id, name, password, status, usertype)
select 5 + sim.people + h,
       'buildvm-' || replace(family, '_', '-') || '-' || lpad(h::text, 3, '0') || '.example.org', null, 0, 1
from sim, sim_host;

-- host_config: every third host had its capacity changed once (a revoked older version)
insert into host_config (host_id, arches, capacity, description, comment, enabled,
                         create_event, revoke_event, creator_id, revoker_id, active)
select h, case family when 'x86_64' then 'x86_64 i686' else family end,
       case when h % 3 = 0 then 4 else 2 end, 'builder ' || h, null, true,
       1 + h, pg_temp.ev(sim.t_start + 0.3 * (sim.t_now - sim.t_start)) + h, 1, 1, null
from sim, sim_host where h % 3 = 0;
insert into host_config (host_id, arches, capacity, description, comment, enabled,
                         create_event, creator_id)
select h, case family when 'x86_64' then 'x86_64 i686' else family end,
       case when h % 13 = 0 then 16 else 2 + floor(7 * pg_temp.rnd(h, 2)) end,
       'builder ' || h, case when retired then 'retired' end, not retired,
       case when h % 3 = 0 then pg_temp.ev(sim.t_start + 0.3 * (sim.t_now - sim.t_start)) + h else 1 + h end, 1
from sim, sim_host;

-- channel membership: all in default, the four "first of family" hosts in every channel, the
-- others in a few more; some old memberships were revoked; legacy (disabled) keeps one member
insert into host_channels (host_id, channel_id, create_event, creator_id)
select h, c, 1 + h, 1
from sim_host, generate_series(1, 9) as c
where c = 1 or h in (1, 2, 4, 8) or pg_temp.rnd(h * 16 + c, 3) < 0.3;
insert into host_channels (host_id, channel_id, create_event, creator_id)
select 3, 10, 2, 1 from sim where sim.hosts >= 3;
insert into host_channels (host_id, channel_id, create_event, revoke_event, creator_id, revoker_id, active)
select h, 10, 2, 100 + h, 1, 1, null from sim_host where h % 5 = 0;

-- the hosts able to run a task of a channel and arch: all of them for history, the healthy
-- ones for tasks that are still running
create temp table sim_pool as
select hc.channel_id, a.arch,
       array_agg(h.h order by h.h) as all_hosts,
       array_agg(h.h order by h.h) filter (where not h.retired and not h.idle) as live_hosts
from host_channels hc
join sim_host h on h.h = hc.host_id
cross join (values ('noarch'), ('x86_64'), ('aarch64'), ('ppc64le'), ('s390x')) as a(arch)
where hc.active and (a.arch = 'noarch' or a.arch = h.family)
group by hc.channel_id, a.arch;

-- sessions: each builder's exclusive session, an older expired one, and people's logins
insert into sessions (user_id, expired, master, key, authtype, hostip, callnum, start_time, update_time,
                      exclusive, closed)
select 5 + sim.people + h, false, null, md5('s' || h), 2, '10.0.0.' || (h % 250), 0,
       now() - interval '3 days', now(),
       true, false
from sim, sim_host where not retired;
insert into sessions (user_id, expired, master, key, authtype, hostip, callnum, start_time, update_time,
                      exclusive, closed)
select 5 + sim.people + h, true, null, md5('old' || h), 2, '10.0.0.' || (h % 250), 0,
       now() - interval '40 days', now() - interval '30 days', null, true
from sim, sim_host;
insert into sessions (user_id, expired, master, key, authtype, hostip, callnum, start_time, update_time,
                      exclusive, closed)
select pg_temp.person(i, 4), pg_temp.rnd(i, 5) < 0.8, null, md5('u' || i), 1, '192.0.2.' || (i % 250), i % 50,
       now() - make_interval(hours => (i % 200)), now() - make_interval(mins => (i % 600)), null,
       pg_temp.rnd(i, 5) < 0.5
from sim, generate_series(1, sim.people * 3) as i;

-- Tags: eight per release (ids (r-1)*8+1 .. r*8), then side tags. Releases older than the last
-- four are end-of-life (locked, a revoked unlocked version behind). Side tags are created along
-- the history; the older 80% are deleted again (their rows revoked, no active tag_config).
insert into tag (id, name) select t, pg_temp.tagname(t) from sim, generate_series(1, sim.tags) as t;

create temp table sim_tag as
select t,
       case when t <= 8 * sim.releases then (t - 1) / 8 + 1 else sim.releases - t % 4 end as rel,
       case when t <= 8 * sim.releases then (t - 1) % 8 + 1 else 0 end as kind,
       t <= 8 * sim.releases and (t - 1) / 8 + 1 <= sim.releases - 4 as eol,
       t > 8 * sim.releases and t - 8 * sim.releases <= 0.8 * (sim.tags - 8 * sim.releases) as deleted,
       case when t <= 8 * sim.releases
            then pg_temp.ev(sim.t_start + ((t - 1) / 8) * 0.5 * (sim.t_now - sim.t_start) / sim.releases)
            else pg_temp.ev(sim.t_start + (t - 8 * sim.releases)::float8 / (sim.tags - 8 * sim.releases + 1)
                            * (sim.t_now - sim.t_start)) end as born
from sim, generate_series(1, sim.tags) as t;

alter table sim_tag add primary key (t);
analyze sim_tag;

create temp table sim_tag_gone as
select t, least(sim.events, born + 1 + floor(pg_temp.rnd(t, 6) * 0.04 * sim.events)::integer) as gone
from sim, sim_tag where deleted or eol;

insert into tag_config (tag_id, arches, perm_id, locked, create_event, revoke_event, creator_id, revoker_id, active)
select s.t, case when s.kind in (0, 6) then 'x86_64 aarch64 ppc64le s390x' end,
       case when s.kind = 1 then 1 end, false, s.born, g.gone, 4, 4, null
from sim_tag s join sim_tag_gone g using (t);
insert into tag_config (tag_id, arches, perm_id, locked, create_event, creator_id)
select s.t, case when s.kind in (0, 6) then 'x86_64 aarch64 ppc64le s390x' end,
       case when s.kind = 1 then 1 end, s.eol, coalesce(g.gone, s.born), 4
from sim_tag s left join sim_tag_gone g using (t) where not s.deleted;

insert into tag_extra (tag_id, key, value, create_event, creator_id)
select t, 'mock.package_manager', 'dnf', born, 4 from sim_tag where kind = 6;
insert into tag_extra (tag_id, key, value, create_event, revoke_event, creator_id, revoker_id, active)
select s.t, 'sidetag_user', 'user' || (pg_temp.person(s.t, 7) - 4), s.born,
       g.gone, 4, case when g.gone is not null then 4 end, case when g.gone is null then true end
from sim_tag s left join sim_tag_gone g using (t) where s.kind = 0;

-- Inheritance chain per release: build -> override -> updates -> base; candidate and testing
-- inherit updates; testing-pending inherits testing through a package filter and maxdepth;
-- build also inherits the previous release's base (intransitive, low priority). An old direct
-- build -> base link was replaced (revoked). Side tags inherit their release's build tag.
insert into tag_inheritance (tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter,
                             create_event, creator_id)
select (r - 1) * 8 + child, (r - 1) * 8 + parent, prio, depth, false, false, filter,
       (select born from sim_tag where t = (r - 1) * 8 + 1) + 1, 4
from sim, generate_series(1, sim.releases) as r,
     (values (6, 5, 0, null::integer, null::text), (5, 2, 0, null, null), (2, 1, 0, null, null),
             (3, 2, 0, null, null), (4, 2, 0, null, null), (8, 4, 0, 1, '^python-.*'),
             (7, 3, 0, null, null)) as l(child, parent, prio, depth, filter);
insert into tag_inheritance (tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter,
                             create_event, creator_id)
select (r - 1) * 8 + 6, (r - 2) * 8 + 1, 10, 0, true, true, null,
       (select born from sim_tag where t = (r - 1) * 8 + 1) + 1, 4
from sim, generate_series(2, sim.releases) as r;
insert into tag_inheritance (tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter,
                             create_event, revoke_event, creator_id, revoker_id, active)
select (r - 1) * 8 + 6, (r - 1) * 8 + 1, 5, null, false, false, null,
       (select born from sim_tag where t = (r - 1) * 8 + 1),
       (select born from sim_tag where t = (r - 1) * 8 + 1) + 1, 4, 4, null
from sim, generate_series(1, sim.releases) as r;
insert into tag_inheritance (tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter,
                             create_event, revoke_event, creator_id, revoker_id, active)
select s.t, (s.rel - 1) * 8 + 6, 0, null, false, false, null, s.born,
       g.gone, 4, case when g.gone is not null then 4 end, case when g.gone is null then true end
from sim_tag s left join sim_tag_gone g using (t) where s.kind = 0;

insert into package (id, name) select p, pg_temp.pkgname(p) from sim, generate_series(1, sim.packages) as p;

-- Package lists of the release base tags, growing with each release; 3% blocked (retired);
-- 5% of the entries had an earlier version (blocked flipped) that was revoked.
create temp table sim_pkglist as
select p, (r - 1) * 8 + 1 as tag_id,
       pg_temp.rnd(p * 64 + r, 9) < 0.03 as blocked,
       pg_temp.rnd(p * 64 + r, 10) < 0.05 as changed,
       b.born
from sim, generate_series(1, sim.releases) as r
join sim_tag b on b.t = (r - 1) * 8 + 1
cross join generate_series(1, (select packages from sim)) as p
where pg_temp.rnd(p * 64 + r, 8) < 0.5 + 0.4 * r / sim.releases;

insert into tag_packages (package_id, tag_id, blocked, extra_arches, create_event, revoke_event, creator_id,
                          revoker_id, active)
select p, tag_id, not blocked, null, born, born + 1 + p % 1000, 4, 4, null from sim_pkglist where changed;
insert into tag_packages (package_id, tag_id, blocked, extra_arches, create_event, creator_id)
select p, tag_id, blocked, case when p % 97 = 0 then 'i686' end,
       case when changed then born + 1 + p % 1000 else born end, 4
from sim_pkglist;

insert into tag_package_owners (package_id, tag_id, owner, create_event, revoke_event, creator_id,
                                revoker_id, active)
select p, tag_id, pg_temp.person(p, 12), born, born + 2 + p % 1000, 4, 4, null
from sim_pkglist where pg_temp.rnd(p * 64 + tag_id, 11) < 0.02;
insert into tag_package_owners (package_id, tag_id, owner, create_event, creator_id)
select p, tag_id, pg_temp.person(p, 13),
       case when pg_temp.rnd(p * 64 + tag_id, 11) < 0.02 then born + 2 + p % 1000 else born end, 4
from sim_pkglist;

-- Targets: fNN-candidate per release (deleted for end-of-life ones), then one per side tag.
insert into build_target (id, name)
select r, 'f' || (42 - sim.releases + r) || '-candidate' from sim, generate_series(1, sim.releases) as r;
insert into build_target (id, name)
select sim.releases + t - 8 * sim.releases, pg_temp.tagname(t) from sim, sim_tag where kind = 0;
insert into build_target_config (build_target_id, build_tag, dest_tag, create_event, revoke_event, creator_id,
                                 revoker_id, active)
select (s.t - 1) / 8 + 1, s.t, s.t - 3, s.born, g.gone, 4,
       case when g.gone is not null then 4 end, case when g.gone is null then true end
from sim_tag s left join sim_tag_gone g on g.t = s.t - 5 where s.kind = 6;
insert into build_target_config (build_target_id, build_tag, dest_tag, create_event, revoke_event, creator_id,
                                 revoker_id, active)
select sim.releases + s.t - 8 * sim.releases, s.t, s.t, s.born, g.gone, 4,
       case when g.gone is not null then 4 end, case when g.gone is null then true end
from sim, sim_tag s left join sim_tag_gone g using (t) where s.kind = 0;
