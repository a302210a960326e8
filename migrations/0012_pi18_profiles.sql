CREATE TABLE `inverter_audits` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`action` text NOT NULL,
	`result` text NOT NULL,
	`operator` text NOT NULL,
	`device_id` text NOT NULL,
	`serial` text,
	`firmware` text,
	`profile_name` text,
	`plan_id` integer,
	`plan` text,
	`frames` text NOT NULL,
	`before` text,
	`after` text,
	`code` text,
	`message` text NOT NULL,
	`aborted_at_step` integer,
	`rollback_held` integer
);
--> statement-breakpoint
CREATE INDEX `inverter_audits_device_id_idx` ON `inverter_audits` (`device_id`,`id`);--> statement-breakpoint
CREATE TABLE `inverter_profiles` (
	`name` text PRIMARY KEY NOT NULL,
	`yaml` text NOT NULL,
	`saved_by` text NOT NULL,
	`saved_at` integer NOT NULL,
	`created_at` integer NOT NULL
);
