-- level_1_33.sql: what a 1.33 hub adds. Healthy builders checked in within the last 15 seconds,
-- the ones that stopped did so one to three hours ago, retired ones never since the upgrade.
update host h
set update_time = case when s.offline then now() - make_interval(secs => 3600 + 7200 * pg_temp.rnd(h.id, 70))
                       when s.retired then null
                       else now() - make_interval(secs => 15 * pg_temp.rnd(h.id, 70)) end
from sim_host s where s.h = h.id;

update sessions set renew_time = start_time + interval '1 day' where not expired and exclusive;
