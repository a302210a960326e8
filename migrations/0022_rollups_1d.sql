-- Daily telemetry rollups (issue 15 goal 1: a year's window reads 365 rows a device, not 8,760).
-- Hand-written, same shape as rollups_1h. Existing stores get their daily rows rebuilt from the
-- hourly rows by the Store at open (the stats are binary: not computable here).
CREATE TABLE `rollups_1d` (
	`device_id` text NOT NULL,
	`bucket` integer NOT NULL,
	`n` integer NOT NULL,
	`keys` text NOT NULL,
	`stats` blob NOT NULL,
	PRIMARY KEY(`device_id`, `bucket`)
);
