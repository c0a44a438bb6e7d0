-- A claimed run's lease, renewed by its runner's heartbeat: quota counts only runs whose lease
-- is live, so runs left behind by a dead runner never hold their org's slots.
ALTER TABLE runs.runs ADD COLUMN lease_until timestamptz;
