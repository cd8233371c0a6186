-- repos.sql: one repo per newRepo job, for the job's build tag, created when the task started.
-- Running tasks leave the repo INIT, failed or canceled ones PROBLEM; of the successful ones the
-- newest of each tag is READY, the two before it EXPIRED, older ones DELETED.
insert into repo (id, create_event, tag_id, state, dist, task_id)
select r.repo_no, pg_temp.ev(extract(epoch from coalesce(t.start_time, t.create_time))), r.build_tag,
       case when t.state in (0, 1, 4) then 0 when t.state in (3, 5) then 4
            when row_number() over (partition by r.build_tag, t.state = 2 order by r.repo_no desc) = 1 then 1
            when row_number() over (partition by r.build_tag, t.state = 2 order by r.repo_no desc) <= 3 then 2
            else 3 end,
       false, t.id
from sim_jobs r join task t on t.id = r.first_id
where r.repo_no is not null;
