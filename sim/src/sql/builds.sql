-- builds.sql: imported builds without a task (ids 1 .. imports, older, some on the archive volume,
-- a few from content generators), then one build per non-scratch build job whose task started
-- (id = imports + build_no). A build's state follows its build task: running -> BUILDING,
-- CLOSED -> COMPLETE, FAILED -> FAILED, CANCELED -> CANCELED; 2% of the older COMPLETE builds were
-- DELETED later.
insert into build (id, volume_id, pkg_id, version, release, epoch, source, create_event, start_time,
                   completion_time, state, task_id, owner, cg_id, extra)
select i, case when i < c.imports / 3 then 1 else 0 end,
       1 + floor(sim.packages * pg_temp.rnd(i, 50))::integer,
       (1 + floor(5 * pg_temp.rnd(i, 51)))::integer || '.' || (i % 50), 'imp' || i || '.fc' || (42 - sim.releases + 1),
       case when i % 17 = 0 then 1 end, null,
       pg_temp.ev(sim.t_start + (sim.t_now - sim.t_start) * 0.5 * i / (c.imports + 1)),
       to_timestamp(sim.t_start + (sim.t_now - sim.t_start) * 0.5 * i / (c.imports + 1)),
       to_timestamp(sim.t_start + (sim.t_now - sim.t_start) * 0.5 * i / (c.imports + 1) + 60),
       case when pg_temp.rnd(i, 52) < 0.01 then 2 else 1 end, null, 4,
       case when i % 50 = 0 then 1 + i % 2 end, null
from sim, sim_counts c, generate_series(1, c.imports) as i;

insert into build (id, volume_id, pkg_id, version, release, epoch, source, create_event, start_time,
                   completion_time, state, task_id, owner, cg_id, extra)
select c.imports + j.build_no, 0, j.pkg,
       (1 + floor(5 * pg_temp.rnd(j.pkg, 51)))::integer || '.' || (j.build_no % 50),
       j.build_no || '.fc' || (42 - sim.releases + j.rel),
       null, 'git+https://src.example.org/rpms/' || pg_temp.pkgname(j.pkg) || '.git#' || to_hex(hashint8(j.j)),
       pg_temp.ev(extract(epoch from t.start_time)), t.start_time, t.completion_time,
       case t.state when 2 then case when pg_temp.rnd(j.j, 53) < 0.02
                                          and extract(epoch from t.completion_time)
                                              < sim.t_start + 0.7 * (sim.t_now - sim.t_start) then 2 else 1 end
                    when 5 then 3 when 3 then 4 else 0 end,
       t.id, j.owner, null, '{"source": {"original_url": "git+https://src.example.org"}}'
from sim, sim_counts c, sim_jobs j
join task t on t.id = j.first_id
where j.build_no is not null and t.start_time is not null;
