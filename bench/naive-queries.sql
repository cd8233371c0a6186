-- naive-queries.sql: what a generic SQL exporter would be configured with to get the same
-- numbers as koji-exporter's families: one plain GROUP BY over the whole table per metric,
-- run on every scrape. bench/run.sh measures them next to koji-exporter's own statements, and
-- bench/query-exporter.yaml serves exactly these queries through query-exporter.
--
-- "-- name: <family>.<query>" starts a query; the family tells which koji-exporter family it
-- stands in for.

-- name: hosts.hosts_by_channel
-- enabled hosts, their capacity and load per channel
select c.name as channel, count(*) as hosts, sum(hc.capacity) as capacity, sum(h.task_load) as task_load,
       count(*) filter (where h.ready) as ready
from host h
join host_config hc on hc.host_id = h.id and hc.active
join host_channels m on m.host_id = h.id and m.active
join channels c on c.id = m.channel_id
where hc.enabled
group by c.name

-- name: hosts.open_tasks_by_host
-- running tasks per host, counted over the whole task table
select h.name as host, count(t.id) as open_tasks
from host h
left join task t on t.host_id = h.id and t.state = 1
group by h.name

-- name: tasks.tasks_by_state_method_channel
-- every task ever, by state, method and channel
select t.state, t.method, c.name as channel, count(*) as tasks
from task t join channels c on c.id = t.channel_id
group by t.state, t.method, c.name

-- name: tasks.task_duration_by_method
-- mean run time of finished tasks per method
select method, count(*) as finished, avg(extract(epoch from completion_time - start_time)) as seconds
from task
where state in (2, 5) and start_time is not null
group by method
