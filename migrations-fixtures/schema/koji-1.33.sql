-- koji-1.33.sql: changes from Koji 1.32 to Koji 1.33.
--
-- Apply after koji-1.32.sql, once, inside a single transaction.

-- time of the builder's last check-in (host.updateHost); NULL until the host
-- first checks in with a 1.33+ hub
alter table host add column update_time timestamptz;

-- when the session was last renewed
alter table sessions add column renew_time timestamptz;

-- named rows the hub locks (select ... for update) to serialise jobs
create table locks (
    name text not null primary key
);

-- lock target introduced with this release
insert into locks (name) values ('protonmsg-plugin');
