-- spawn.sql: running parents (build, newRepo, image) that are not waiting and have no unfinished
-- subtasks start their next phase, as kojid's handlers do: a build first makes its SRPM
-- (buildSRPMFromSCM) and waits for it, then one buildArch per arch and waits for those; newRepo
-- and image make their createrepo / createImage subtasks at once. Each phase ends with
-- taskSetWait (parent waiting, children awaited). Returns the parents and whether this was their
-- first phase.
with p as (
    select t.id, t.method, t.owner, t.channel_id,
           not exists (select 1 from task c where c.parent = t.id) as first
    from task t
    where t.state = 1 and t.parent is null and t.waiting is not true and t.method in ('build', 'newRepo', 'image')
      and not exists (select 1 from task c where c.parent = t.id and c.state not in (2, 3, 5))
      and (not exists (select 1 from task c where c.parent = t.id)
           or (t.method = 'build' and not exists (select 1 from task c where c.parent = t.id and c.method = 'buildArch')))
    order by t.id
    limit $1
),
kids as (
    insert into task (state, channel_id, parent, label, awaited, owner, method, request, arch, priority, weight)
    select 0, p.channel_id, p.id, k.label, true, p.owner, k.method,
           E'<?xml version=\'1.0\'?>\n<methodCall>\n<methodName>' || k.method
           || E'</methodName>\n<params>\n<param>\n<value><int>' || p.id || E'</int></value>\n</param>\n<param>\n<value><string>'
           || k.arch || E'</string></value>\n</param>\n</params>\n</methodCall>\n',
           k.arch, 19, k.weight
    from p
    cross join lateral (
        select 'srpm' as label, 'buildSRPMFromSCM' as method, 'noarch' as arch, 1.0::float8 as weight
        where p.method = 'build' and p.first
        union all
        select a, case p.method when 'build' then 'buildArch' when 'newRepo' then 'createrepo' else 'createImage' end,
               a, 1.5
        from unnest(array['x86_64', 'aarch64', 'ppc64le', 's390x']) with ordinality as u(a, n)
        where n <= 1 + p.id % 4 and not (p.method = 'build' and p.first)
    ) as k
    returning parent
),
w as (
    update task set waiting = true where id in (select id from p) and state = 1 returning id
)
select w.id, p.first from w join p using (id) where exists (select 1 from kids)
