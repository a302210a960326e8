CREATE TABLE `devices` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`bus_id` text,
	`name` text,
	`serial` text,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`meta` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY NOT NULL,
	`ts` integer NOT NULL,
	`type` text NOT NULL,
	`device_id` text,
	`bus_id` text,
	`data` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_type_device_id_id_idx` ON `events` (`type`,`device_id`,`id`);--> statement-breakpoint
CREATE INDEX `events_type_id_idx` ON `events` (`type`,`id`);--> statement-breakpoint
CREATE INDEX `events_device_id_id_idx` ON `events` (`device_id`,`id`);--> statement-breakpoint
CREATE INDEX `events_ts_idx` ON `events` (`ts`);--> statement-breakpoint
CREATE TABLE `frames` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`bus_id` text NOT NULL,
	`dir` text NOT NULL,
	`can_id` integer NOT NULL,
	`extended` integer NOT NULL,
	`remote` integer NOT NULL,
	`data` blob NOT NULL,
	`kind` text NOT NULL,
	`device_id` text
);
--> statement-breakpoint
CREATE INDEX `frames_bus_id_id_idx` ON `frames` (`bus_id`,`id`);--> statement-breakpoint
CREATE INDEX `frames_ts_idx` ON `frames` (`ts`);--> statement-breakpoint
CREATE TABLE `samples` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`device_id` text NOT NULL,
	`values` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `samples_device_id_ts_idx` ON `samples` (`device_id`,`ts`);