-- free.sql: the FREE tasks a scheduler pass considers, by priority then age, at most 1000.
select id, channel_id, arch, weight from task where state = 0 order by priority, create_time, id limit 1000
