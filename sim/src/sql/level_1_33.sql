-- level_1_33.sql: what a 1.33 hub adds. Builders checked in within the last 15 seconds, retired
-- ones never since the upgrade.
update host h
set update_time = case when s.retired then null
                       else now() - make_interval(secs => 15 * pg_temp.rnd(h.id, 70)) end
from sim_host s where s.h = h.id;

update sessions set renew_time = start_time + interval '1 day' where not expired and exclusive;
