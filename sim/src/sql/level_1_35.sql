-- level_1_35.sql: repo bookkeeping of 1.35 and the repo request queue. A repo's content covers
-- the events from its create_event until the next repo of the same tag was made.
update repo r
set creation_time = get_event_time(r.create_event),
    state_time = case when r.state = 0 then get_event_time(r.create_event)
                      else get_event_time(r.create_event) + interval '10 minutes' end,
    begin_event = r.create_event,
    end_event = n.next_event,
    opts = '{"src": false, "debuginfo": false, "separate_src": false}'::jsonb
from (select id, lead(create_event) over (partition by tag_id order by id) as next_event from repo) n
where n.id = r.id;

-- served requests point at the repo that satisfied them; the open ones are the queue
insert into repo_queue (create_time, owner, priority, tag_id, at_event, min_event, opts, update_time, active,
                        task_id, tries, repo_id)
select r.creation_time - interval '1 minute', 2, 20, r.tag_id, null, r.create_event, '{}'::jsonb,
       r.state_time, false, r.task_id, 1, r.id
from repo r where r.state in (1, 2) and r.id % 3 = 0;
insert into repo_queue (create_time, owner, priority, tag_id, at_event, min_event, opts, update_time, active,
                        task_id, tries, repo_id)
select now() - make_interval(mins => i), 2, 10 + i, (r - 1) * 8 + 6, null,
       (select max(id) from events), '{}'::jsonb, now(), true, null, 0, null
from sim, generate_series(1, least(sim.releases, 5)) as r, generate_series(1, 2) as i;
