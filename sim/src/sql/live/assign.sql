-- assign.sql: Task.assign for the pass's choices ($1 tasks, $2 hosts): only a task still FREE
-- moves to ASSIGNED. Returns the tasks that were assigned.
update task t
set state = 4, host_id = a.host_id
from unnest($1::integer[], $2::integer[]) as a(task_id, host_id)
where t.id = a.task_id and t.state = 0
returning t.id, t.host_id
