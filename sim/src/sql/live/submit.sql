-- submit.sql: $1 new top-level tasks, FREE, as users and services submit them: builds of a
-- package for a live target, repo regenerations of a build tag, notifications, waitrepo, images.
insert into task (state, channel_id, owner, method, request, arch, priority, weight)
select 0,
       case m.method when 'newRepo' then 2 when 'image' then 7 else 1 end,
       case m.method when 'newRepo' then 2 when 'tagNotification' then 3 else 5 + (i % 10) end,
       m.method,
       E'<?xml version=\'1.0\'?>\n<methodCall>\n<methodName>' || m.method || E'</methodName>\n<params>\n'
       || case m.method
              when 'build' then E'<param>\n<value><string>git+https://src.example.org/rpms/' || p.name
                                || '.git#' || to_hex(hashint8(i + extract(epoch from clock_timestamp())::bigint))
                                || E'</string></value>\n</param>\n<param>\n<value><string>' || t.name
                                || E'</string></value>\n</param>\n'
              when 'newRepo' then E'<param>\n<value><struct><member><name>id</name><value><int>' || t.build_tag
                                  || '</int></value></member><member><name>name</name><value><string>'
                                  || t.build_tag_name || E'</string></value></member></struct></value>\n</param>\n'
              -- waitrepo names the build tag it waits for; the others name the target.
              when 'waitrepo' then E'<param>\n<value><string>' || t.build_tag_name || E'</string></value>\n</param>\n'
              else E'<param>\n<value><string>' || t.name || E'</string></value>\n</param>\n'
          end
       || E'</params>\n</methodCall>\n',
       'noarch', 20,
       case m.method when 'image' then 1.0 else 0.2 end
from generate_series(1, $1::integer) as i
cross join lateral (
    select case when u < 0.5 then 'build' when u < 0.7 then 'newRepo' when u < 0.9 then 'tagNotification'
                when u < 0.95 then 'waitrepo' else 'image' end as method
    from (select random() + i * 0 as u) as r
) as m
cross join lateral (
    select bt.name, c.build_tag, g.name as build_tag_name
    from build_target bt
    join build_target_config c on c.build_target_id = bt.id and c.active
    join tag g on g.id = c.build_tag
    where i > 0
    order by random()
    limit 1
) as t
cross join lateral (
    select name from package where id = 1 + floor(random() * (select max(id) from package))::integer + i * 0
) as p
