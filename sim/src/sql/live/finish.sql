-- finish.sql: builders finish up to $1 running tasks that are not waiting on subtasks (parents
-- that will spawn subtasks are left to spawn.sql): 5% fail, the rest close. Only OPEN tasks move,
-- so a terminal task is never touched again.
update task t
set state = case when x.fail then 5 else 2 end,
    completion_time = now(),
    result = case when x.fail
                  then E'<?xml version=\'1.0\'?>\n<methodResponse>\n<fault>\n<value><struct><member><name>faultCode</name><value><int>1005</int></value></member><member><name>faultString</name><value><string>mock exited with status 1</string></value></member></struct></value>\n</fault>\n</methodResponse>\n'
                  else E'<?xml version=\'1.0\'?>\n<methodResponse>\n<params>\n<param>\n<value><nil/></value>\n</param>\n</params>\n</methodResponse>\n' end
from (
    select id, random() < 0.05 as fail
    from task
    where state = 1 and waiting is not true
      and not (parent is null and method in ('build', 'newRepo', 'image'))
      and start_time < now() - make_interval(secs => 1 + id % 8)
    order by id
    limit $1
) as x
where t.id = x.id and t.state = 1
returning t.id
