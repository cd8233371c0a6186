-- tagged.sql: numbers the builds that carry tag history (COMPLETE and DELETED ones) for
-- listings.sql, with the release they belong to and the event they finished at.
create temp table sim_tagged as
select row_number() over (order by b.id) as k, b.id as build_id, b.state = 2 as deleted,
       coalesce(j.rel, 1 + b.id % sim.releases) as rel,
       pg_temp.ev(extract(epoch from b.completion_time)) as done_event
from build b left join sim_jobs j on j.first_id = b.task_id, sim
where b.state in (1, 2);

alter table sim_tagged add primary key (k);
analyze sim_tagged;
