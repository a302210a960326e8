PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_frames` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`protocol` text NOT NULL,
	`link` text NOT NULL,
	`dir` text NOT NULL,
	`address` text,
	`bytes` blob NOT NULL,
	`text` text,
	`kind` text NOT NULL,
	`device_id` text,
	`meta` text
);
--> statement-breakpoint
INSERT INTO `__new_frames`("id", "ts", "protocol", "link", "dir", "address", "bytes", "text", "kind", "device_id", "meta") SELECT "id", "ts", "protocol", "link", "dir", "address", "bytes", "text", "kind", "device_id", "meta" FROM `frames`;--> statement-breakpoint
DROP TABLE `frames`;--> statement-breakpoint
ALTER TABLE `__new_frames` RENAME TO `frames`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `frames_link_id_idx` ON `frames` (`link`,`id`);--> statement-breakpoint
CREATE INDEX `frames_ts_idx` ON `frames` (`ts`);