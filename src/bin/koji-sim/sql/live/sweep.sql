-- sweep.sql (Koji 1.34+ scheduler checks): enabled hosts silent for 180 s are marked not ready;
-- tasks held by hosts silent for 300 s (ASSIGNED or OPEN, not waiting, no unfinished subtasks)
-- are freed: FREE again, host_id NULL, start_time kept.
with nr as (
    update host set ready = false
    where ready and (update_time is null or update_time < now() - interval '180 seconds')
      and id in (select host_id from host_config where active and enabled)
    returning id
),
stale as (
    select t.id
    from task t join host h on h.id = t.host_id
    where t.state in (1, 4) and t.waiting is not true
      and not exists (select 1 from task c where c.parent = t.id and c.state not in (2, 3, 5))
      and (h.update_time is null or h.update_time < now() - interval '300 seconds')
)
update task set state = 0, host_id = null
where id in (select id from stale) and state in (1, 4)
returning id
