-- level_1_34.sql: the 1.34 scheduler's tables and a few draft builds.
insert into scheduler_host_data (host_id, data)
select h, jsonb_build_object('methods', jsonb_build_array('build', 'buildArch', 'newRepo', 'createrepo',
                                                          'tagBuild', 'tagNotification', 'image'),
                             'maxjobs', case when h % 13 = 0 then 20 else 10 end)
from sim_host where h % 10 <> 7;

-- the current assignment of every ASSIGNED or OPEN task, plus older inactive runs of some of them
insert into scheduler_task_runs (task_id, host_id, active, create_time)
select id, host_id, true, coalesce(start_time, now()) - interval '2 seconds'
from task where state in (1, 4) and host_id is not null;
insert into scheduler_task_runs (task_id, host_id, active, create_time)
select id, 1 + (host_id % (select hosts from sim)), false, create_time + interval '1 second'
from task where state in (1, 4) and host_id is not null and id % 5 = 0;

insert into scheduler_sys_data (name, data) values ('last_run_ts', to_jsonb(extract(epoch from now())::float8));
insert into scheduler_log_messages (task_id, host_id, msg_time, msg)
select task_id, host_id, create_time, 'Assigning task' from scheduler_task_runs;

-- drafts: a few FAILED builds were drafts (their release carries the draft suffix)
update build set draft = true, release = release || ',draft_' || id
where id in (select id from build where state = 3 order by id desc limit 10);
