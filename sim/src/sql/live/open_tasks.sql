-- open_tasks.sql: host.openTask for tasks $1: an ASSIGNED task becomes OPEN with start_time now.
-- Returns the hosts that opened something.
update task set state = 1, start_time = now()
where id = any($1::integer[]) and state = 4
returning host_id
