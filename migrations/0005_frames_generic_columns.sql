ALTER TABLE `frames` ADD `protocol` text;--> statement-breakpoint
ALTER TABLE `frames` ADD `link` text;--> statement-breakpoint
ALTER TABLE `frames` ADD `address` text;--> statement-breakpoint
ALTER TABLE `frames` ADD `bytes` blob;--> statement-breakpoint
ALTER TABLE `frames` ADD `text` text;--> statement-breakpoint
ALTER TABLE `frames` ADD `meta` text;