-- spawn_records.sql: what starting parents $1 creates besides subtasks: a BUILDING build for a
-- build task (the package is the one named in its request) and an INIT repo for a newRepo task.
with b as (
    insert into build (volume_id, pkg_id, version, release, state, task_id, owner, start_time)
    select 0, pk.id, '1.0', 'live' || t.id || '.fc42', 0, t.id, t.owner, now()
    from task t
    join package pk on pk.name = substring(t.request from '/rpms/(.*?)\.git#')
    where t.id = any($1::integer[]) and t.method = 'build'
    returning id
),
r as (
    insert into repo (tag_id, state, task_id)
    select substring(t.request from '<name>id</name><value><int>([0-9]+)</int>')::integer, 0, t.id
    from task t
    where t.id = any($1::integer[]) and t.method = 'newRepo'
    returning id
)
select (select count(*) from b)::int8 + (select count(*) from r)::int8
