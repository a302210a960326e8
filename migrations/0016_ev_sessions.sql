ALTER TABLE `charge_sessions` ADD `kind` text DEFAULT 'battery' NOT NULL;--> statement-breakpoint
ALTER TABLE `charge_sessions` ADD `avg_current_a` real;--> statement-breakpoint
ALTER TABLE `charge_sessions` ADD `faults` text;--> statement-breakpoint
ALTER TABLE `charge_sessions` ADD `detail` text;--> statement-breakpoint
CREATE INDEX `charge_sessions_kind_started_idx` ON `charge_sessions` (`kind`,`started_at`);