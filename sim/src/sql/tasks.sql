-- tasks.sql: the tasks of jobs $1 .. $2 (see jobs.sql), with states consistent with the clock.
--
-- Each task gets a window: created c, started st, done en (epoch seconds). Subtasks run inside
-- their parent's window. The job's outcome decides each task's final state and time f:
-- success closes everything at en; a failure fails one subtask at the cut, cancels the unfinished
-- siblings and fails the parent; a cancel cancels whatever is unfinished at the cut. Tasks created
-- after the cut, or after "now", do not exist. Relative to now a task is then terminal
-- (completion_time = f), OPEN (started), ASSIGNED (about to start) or FREE.
insert into task (id, state, create_time, start_time, completion_time, channel_id, host_id, parent, label,
                  waiting, awaited, owner, method, request, result, eta, arch, priority, weight)
with w as (
    select j.*, r, j.first_id + r as id, j.t0 + j.q0 as s0,
           case when r = 0 then 0 when j.kind = 1 and r = 1 then 1 when j.kind = 1 and r < 2 + j.na then 2
                when j.kind = 1 then 3 else 4 end as role
    from sim_jobs j cross join lateral generate_series(0, j.n - 1) as r
    where j.j between $1 and $2
), e as (
    select w.*,
           case role when 2 then r - 1 when 4 then r else 0 end as archi,
           case role when 0 then t0 when 1 then s0 + 2 when 2 then s0 + 0.2 * dur + 1 when 3 then s0 + 0.9 * dur
                     else s0 + 3 end as c,
           case role when 0 then s0 + dur when 1 then s0 + 0.2 * dur
                     when 2 then s0 + 0.2 * dur + 1 + (0.3 + 0.6 * pg_temp.rnd(id, 31)) * 0.7 * dur
                     when 3 then s0 + 0.97 * dur
                     else s0 + (0.5 + 0.45 * pg_temp.rnd(id, 31)) * dur end as en
    from w
), s as (
    select e.*,
           case when role = 0 then s0 else c + least(1 + 20 * pg_temp.rnd(id, 32) ^ 2, (en - c) * 0.3) end as st,
           case outcome
               when 0 then 2
               when 1 then case when r = fail_r then 5 when r = 0 then 5 when en <= cut then 2 else 3 end
               else case when r = 0 then 3 when en <= cut then 2 else 3 end end as fs,
           case outcome
               when 0 then en
               when 1 then case when r = fail_r then cut when r = 0 then cut + 5 when en <= cut then en
                                else cut + 2 end
               else case when r = 0 then cut when en <= cut then en else cut end end as f
    from e
    where c <= (select t_now from sim) and (outcome = 0 or c <= cut)
), z as (
    select s.*, sim.t_now as now_s,
           case when f <= sim.t_now then fs when st <= sim.t_now then 1 when st - 60 <= sim.t_now then 4 else 0 end
               as state
    from s, sim
)
select z.id, z.state,
       to_timestamp(z.c),
       case when z.state = 1 or (z.state in (2, 3, 5) and z.st < z.f) then to_timestamp(z.st) end,
       case when z.state in (2, 3, 5) then to_timestamp(z.f) end,
       z.channel,
       case when z.state = 0 or (z.state = 3 and z.st >= z.f) then null
            when z.state in (2, 3, 5) then p.all_hosts[1 + floor(pg_temp.rnd(z.id, 41) * cardinality(p.all_hosts))::integer]
            else p.live_hosts[1 + floor(pg_temp.rnd(z.id, 41) * cardinality(p.live_hosts))::integer] end,
       case when z.r > 0 then z.first_id end,
       case z.role when 0 then null when 1 then 'srpm' when 3 then 'tag' else pg_temp.arch(z.archi) end,
       case when z.r = 0 and z.n > 1 then
           case when z.state in (2, 3, 5) then case when z.f > z.s0 + 2 then false end
                when z.state = 1 and z.now_s >= z.s0 + 2 then true end end,
       case when z.r > 0 then z.state not in (2, 3, 5) end,
       z.owner,
       case z.role
           when 0 then case z.kind when 1 then 'build' when 2 then 'newRepo' when 3 then 'tagNotification'
                                   when 4 then 'tagBuild' when 5 then 'image' when 6 then 'waitrepo'
                                   else (array['livemedia', 'appliance', 'livecd', 'maven', 'winbuild', 'distRepo',
                                               'runroot'])[1 + z.misc] end
           when 1 then 'buildSRPMFromSCM' when 2 then 'buildArch' when 3 then 'tagBuild'
           else case z.kind when 2 then 'createrepo' else 'createImage' end end as method,
       case
           when z.kind = 1 and z.role in (0, 1) then pg_temp.xcall(case z.role when 0 then 'build' else 'buildSRPMFromSCM' end,
               pg_temp.xp(pg_temp.xs('git+https://src.example.org/rpms/' || pg_temp.pkgname(z.pkg) || '.git#'
                                     || to_hex(hashint8(z.j))))
               || pg_temp.xp(case z.role when 0 then pg_temp.xs(case when z.build_tag > 8 * (select releases from sim)
                                                                    then pg_temp.tagname(z.build_tag)
                                                                    else 'f' || (42 - (select releases from sim) + z.rel)
                                                                         || '-candidate' end)
                                         else pg_temp.xi(z.build_tag) end)
               || pg_temp.xp('<value><struct><member><name>scratch</name><value><boolean>'
                             || z.scratch::integer || '</boolean></value></member></struct></value>'))
           when z.role = 2 then pg_temp.xcall('buildArch',
               pg_temp.xp(pg_temp.xs('tasks/' || (z.first_id + 1) % 10000 || '/' || (z.first_id + 1) || '/'
                                     || pg_temp.pkgname(z.pkg) || '-1.0-1.src.rpm'))
               || pg_temp.xp(pg_temp.xi(z.build_tag)) || pg_temp.xp(pg_temp.xs(pg_temp.arch(z.archi))))
           when z.role = 3 or z.kind = 4 then pg_temp.xcall('tagBuild',
               pg_temp.xp(pg_temp.xi(case when z.kind = 1 then z.build_tag - 3 else z.build_tag - 2 end))
               || pg_temp.xp(pg_temp.xi(coalesce(z.build_no, z.j))))
           when z.kind = 2 and z.r = 0 then pg_temp.xcall('newRepo',
               pg_temp.xp('<value><struct><member><name>id</name>' || pg_temp.xi(z.build_tag)
                          || '</member><member><name>name</name>' || pg_temp.xs(pg_temp.tagname(z.build_tag))
                          || '</member></struct></value>'))
           when z.kind = 2 then pg_temp.xcall('createrepo',
               pg_temp.xp(pg_temp.xi(z.repo_no)) || pg_temp.xp(pg_temp.xs(pg_temp.arch(z.archi))))
           when z.kind = 3 then pg_temp.xcall('tagNotification',
               pg_temp.xp(pg_temp.xs('user' || (z.owner - 4) || '@example.org')) || pg_temp.xp('<value><boolean>1</boolean></value>')
               || pg_temp.xp(pg_temp.xi(z.build_tag - 3)))
           -- waitrepo and distRepo name the tag first, as Koji's do.
           when z.kind = 6 or (z.kind = 7 and z.misc = 5) then
               pg_temp.xcall(case z.kind when 6 then 'waitrepo' else 'distRepo' end,
                             pg_temp.xp(pg_temp.xs(pg_temp.tagname(z.build_tag))))
           else pg_temp.xcall('image', pg_temp.xp(pg_temp.xs(pg_temp.pkgname(z.pkg)))
               || pg_temp.xp(pg_temp.xs('f' || (42 - (select releases from sim) + z.rel) || '-candidate')))
       end,
       case z.state
           when 2 then pg_temp.xresp(case when z.kind = 1 and z.r = 0 then pg_temp.xi(coalesce(z.build_no, 0))
                                          else '<value><nil/></value>' end)
           when 5 then E'<?xml version=\'1.0\'?>\n<methodResponse>\n<fault>\n<value><struct><member><name>faultCode</name>'
                       || pg_temp.xi(1005) || '</member><member><name>faultString</name>'
                       || pg_temp.xs(case when z.r = 0 and z.n > 1 then 'a subtask failed'
                                          else 'mock exited with status 1; see build.log' end)
                       || E'</member></struct></value>\n</fault>\n</methodResponse>\n'
       end,
       null,
       case when z.archi = 0 then 'noarch' else pg_temp.arch(z.archi) end,
       case when z.r = 0 then 20 else 19 end,
       case z.role when 0 then case z.kind when 5 then 1.0 when 7 then 1.5 else 0.2 end
                   when 1 then 1.0 when 2 then 1.5 + round((2.5 * pg_temp.rnd(z.id, 42))::numeric, 2)::float8
                   when 3 then 0.1 else 1.5 end
from z
join sim_pool p on p.channel_id = z.channel and p.arch = case when z.archi = 0 then 'noarch' else pg_temp.arch(z.archi) end
