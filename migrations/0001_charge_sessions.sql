CREATE TABLE `charge_phases` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` text NOT NULL,
	`phase` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`reason` text
);
--> statement-breakpoint
CREATE INDEX `charge_phases_session_idx` ON `charge_phases` (`session_id`,`id`);--> statement-breakpoint
CREATE TABLE `charge_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`charger_id` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`outcome` text,
	`reason` text,
	`target_voltage_v` real NOT NULL,
	`charge_current_a` real NOT NULL,
	`delivered_ah` real NOT NULL,
	`delivered_wh` real NOT NULL,
	`peak_current_a` real NOT NULL,
	`cc_to_cv_at` integer,
	`charging_ms` integer NOT NULL,
	`ramp_started_at` integer,
	`soc_start_pct` real,
	`resumes` integer NOT NULL,
	`settings` text NOT NULL,
	`psu_ids` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `charge_sessions_charger_started_idx` ON `charge_sessions` (`charger_id`,`started_at`);