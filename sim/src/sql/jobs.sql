-- jobs.sql: the plan of the task history, one row per top-level task ("job") with its subtasks
-- counted in n. Job j's tasks get the consecutive ids first_id .. first_id + n - 1 (parent
-- first), so the tasks can then be generated chunk by chunk. Kinds: 1 build (srpm, buildArch per
-- arch, tagBuild unless scratch), 2 newRepo (createrepo per arch), 3 tagNotification,
-- 4 tagBuild, 5 image (createImage per arch), 6 waitrepo, 7 a single task of another channel.
-- Outcomes: 0 success, 1 a subtask (or the task) fails, 2 canceled by a user.

create temp table sim_jobs0 as
with g as (
    select j, pg_temp.rnd(j, 20) as u
    from sim, generate_series(1, (sim.tasks / 3.0 * 1.1)::integer + 10) as j
), k as (
    select j,
           case when u < 0.35 then 1 when u < 0.55 then 2 when u < 0.75 then 3 when u < 0.85 then 4
                when u < 0.88 then 5 when u < 0.95 then 6 else 7 end as kind
    from g
), a as (
    select j, kind,
           case when kind in (1, 2) then 1 + floor(4 * pg_temp.rnd(j, 21) ^ 0.8)::integer
                when kind = 5 then 1 + floor(3 * pg_temp.rnd(j, 21))::integer else 0 end as na,
           kind = 1 and pg_temp.rnd(j, 22) < 0.12 as scratch
    from k
), n as (
    select *, case kind when 1 then 2 + na + (not scratch)::integer when 2 then 1 + na when 5 then 1 + na
                        else 1 end as n
    from a
)
select *, sum(n) over (order by j) - n + 1 as first_id from n;

delete from sim_jobs0 using sim where first_id > sim.tasks;

-- Times as epoch seconds. Jobs arrive evenly over the history, except a burst of submissions
-- in the last five minutes that is still queued (FREE) when the history ends.
create temp table sim_jobs as
with c as (select count(*) as jobs, greatest(10, (select hosts from sim) * 3) as burst from sim_jobs0),
t as (
    select j0.*, c.jobs,
           case when j0.j > c.jobs - c.burst
                then sim.t_now - 300 + 295.0 * (j0.j - (c.jobs - c.burst)) / c.burst
                else sim.t_start + (sim.t_now - 300 - sim.t_start) * (j0.j - 1) / (c.jobs - c.burst) end as t0,
           -- every third job of the burst is about to start (ASSIGNED), the others wait (FREE)
           case when j0.j > c.jobs - c.burst and j0.j % 3 = 0
                then sim.t_now + 30 * pg_temp.rnd(j0.j, 23) + 1
                     - (sim.t_now - 300 + 295.0 * (j0.j - (c.jobs - c.burst)) / c.burst)
                when j0.j > c.jobs - c.burst then 600 + 1800 * pg_temp.rnd(j0.j, 23)
                else 2 + 25 * pg_temp.rnd(j0.j, 23) ^ 2
                     + case when pg_temp.rnd(j0.j, 24) < 0.04 then 900 * pg_temp.rnd(j0.j, 25) else 0 end
           end as q0,
           case j0.kind when 1 then 300 + 7200 * pg_temp.rnd(j0.j, 26) ^ 2
                        when 2 then 120 + 600 * pg_temp.rnd(j0.j, 26)
                        when 3 then 2 + 10 * pg_temp.rnd(j0.j, 26)
                        when 4 then 5 + 30 * pg_temp.rnd(j0.j, 26)
                        when 5 then 1200 + 10000 * pg_temp.rnd(j0.j, 26) ^ 2
                        when 6 then 60 + 1200 * pg_temp.rnd(j0.j, 26)
                        else 30 + 3000 * pg_temp.rnd(j0.j, 26) ^ 2 end as dur,
           case when pg_temp.rnd(j0.j, 27) < 0.04 then 1 when pg_temp.rnd(j0.j, 27) < 0.06 then 2 else 0 end
               as outcome,
           -- the release a job works for: older jobs for older releases
           greatest(1, least(sim.releases, ceil(sim.releases * (0.5 + 0.5 * j0.j / c.jobs))::integer
                                           - floor(2 * pg_temp.rnd(j0.j, 28))::integer)) as rel,
           pg_temp.rnd(j0.j, 29) < 0.15 as on_side_tag,
           floor(7 * pg_temp.rnd(j0.j, 30))::integer as misc
    from sim_jobs0 j0, c, sim
)
select t.*,
       case t.kind when 2 then 2 when 5 then 7
                   when 7 then (array[8, 5, 4, 3, 6, 2, 9])[1 + t.misc] else 1 end as channel,
       case t.kind when 2 then 2 when 3 then 3 when 4 then 3 else pg_temp.person(t.j, 31) end as owner,
       -- build tag (builds, newRepo) and destination tag of the job's target
       case when t.on_side_tag and sim.tags > 8 * sim.releases
            then 8 * sim.releases + 1 + floor((sim.tags - 8 * sim.releases) * pg_temp.rnd(t.j, 32))::integer
            else (t.rel - 1) * 8 + 6 end as build_tag,
       1 + floor(sim.packages * pg_temp.rnd(t.j, 33) ^ 2)::integer as pkg,
       -- the failing task (first buildArch / createrepo / createImage, or the task itself) ends at
       -- the same time computed in tasks.sql; a cancel happens somewhere in the job's life
       case t.outcome
           when 1 then case t.kind
               when 1 then t.t0 + t.q0 + 0.2 * t.dur + 1 + (0.3 + 0.6 * pg_temp.rnd(t.first_id + 2, 31)) * 0.7 * t.dur
               when 2 then t.t0 + t.q0 + (0.5 + 0.45 * pg_temp.rnd(t.first_id + 1, 31)) * t.dur
               when 5 then t.t0 + t.q0 + (0.5 + 0.45 * pg_temp.rnd(t.first_id + 1, 31)) * t.dur
               else t.t0 + t.q0 + t.dur end
           when 2 then t.t0 + (t.q0 + t.dur) * pg_temp.rnd(t.j, 34)
       end as cut,
       case when t.kind = 1 and t.outcome = 1 then 2 when t.kind in (2, 5) and t.outcome = 1 then 1 else 0 end
           as fail_r,
       case when t.kind = 1 and not t.scratch then count(*) filter (where t.kind = 1 and not t.scratch)
                                                      over (order by t.j) end as build_no,
       case when t.kind = 2 then count(*) filter (where t.kind = 2) over (order by t.j) end as repo_no
from t, sim;

alter table sim_jobs add primary key (j);
create index on sim_jobs (first_id);
analyze sim_jobs;

-- imported builds (no task) make up the rest of the build target; they take the low build ids
create temp table sim_counts as
select greatest(0, sim.builds - (select count(*) from sim_jobs where build_no is not null))::integer as imports,
       (select max(j) from sim_jobs) as jobs
from sim;
