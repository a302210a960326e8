CREATE TABLE `rollups_1h` (
	`device_id` text NOT NULL,
	`bucket` integer NOT NULL,
	`n` integer NOT NULL,
	`keys` text NOT NULL,
	`stats` blob NOT NULL,
	PRIMARY KEY(`device_id`, `bucket`)
);
--> statement-breakpoint
CREATE TABLE `rollups_1m` (
	`device_id` text NOT NULL,
	`bucket` integer NOT NULL,
	`n` integer NOT NULL,
	`keys` text NOT NULL,
	`stats` blob NOT NULL,
	PRIMARY KEY(`device_id`, `bucket`)
);
--> statement-breakpoint
CREATE INDEX `samples_ts_idx` ON `samples` (`ts`);