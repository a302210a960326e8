-- Scheduled jobs and their runs (issue 14): the jobs table (definitions from the API and the config,
-- with the latest handled scheduled instant) and job_runs (every run and its outcome).
CREATE TABLE `job_runs` (
	`id` integer PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`scheduled_at` integer,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`trigger` text NOT NULL,
	`outcome` text NOT NULL,
	`code` text,
	`reason` text,
	`steps` text NOT NULL,
	`event_ids` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `job_runs_job_idx` ON `job_runs` (`job_id`,`id`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`cron` text,
	`at` integer,
	`timezone` text NOT NULL,
	`enabled` integer NOT NULL,
	`catch_up` text NOT NULL,
	`max_lateness_s` integer NOT NULL,
	`conditions` text NOT NULL,
	`actions` text NOT NULL,
	`source` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_scheduled_at` integer
);
