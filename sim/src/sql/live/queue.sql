-- queue.sql (Koji 1.35): a repo request for a random live build tag joins the queue, and requests
-- nobody served within ten minutes are dropped (inactive without a repo).
with dropped as (
    update repo_queue set active = false, update_time = now()
    where active and create_time < now() - interval '10 minutes'
    returning id
)
insert into repo_queue (owner, priority, tag_id, min_event, opts)
select 2, 20, c.build_tag, (select max(id) from events), '{}'::jsonb
from build_target_config c
where c.active
order by random()
limit 1
returning id
