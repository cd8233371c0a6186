-- sweep.sql (Koji 1.34+ scheduler checks, with kojihub's default timeouts): enabled ready hosts
-- silent for 180 s (ReadyTimeout) are marked not ready; ASSIGNED tasks whose active run is older
-- than 300 s (AssignTimeout) and OPEN tasks whose host has been silent for 900 s (HostTimeout)
-- are freed: FREE again, host_id NULL, start_time kept. Each decision is logged in
-- scheduler_log_messages with the scheduler's wording. Waiting parents and parents with
-- unfinished subtasks are left alone (simplification: they would come back with their subtasks
-- already made). Returns the freed tasks.
with nr as (
    update host set ready = false
    where ready and (update_time is null or update_time < now() - interval '180 seconds')
      and id in (select host_id from host_config where active and enabled)
    returning id
),
nr_logged as (
    insert into scheduler_log_messages (host_id, msg) select id, 'Marking host not ready' from nr returning id
),
late as (
    select t.id, t.host_id, 'Task assignment timeout' as msg
    from task t
    where t.state = 4
      and (select min(r.create_time) from scheduler_task_runs r where r.task_id = t.id and r.active)
          < now() - interval '300 seconds'
    union all
    select t.id, t.host_id, 'Freeing task from unresponsive host'
    from task t join host h on h.id = t.host_id
    where t.state = 1 and h.update_time < now() - interval '900 seconds'
      and exists (select 1 from scheduler_task_runs r where r.task_id = t.id and r.active)
),
eligible as (
    select late.* from late join task t on t.id = late.id
    where t.waiting is not true
      and not exists (select 1 from task c where c.parent = t.id and c.state not in (2, 3, 5))
),
freed as (
    update task set state = 0, host_id = null
    where id in (select id from eligible) and state in (1, 4)
    returning id
),
logged as (
    insert into scheduler_log_messages (task_id, host_id, msg)
    select e.id, e.host_id, e.msg from eligible e where e.id in (select id from freed)
    returning id
)
select id from freed
