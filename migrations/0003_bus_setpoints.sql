CREATE TABLE `bus_setpoints` (
	`bus_id` text PRIMARY KEY NOT NULL,
	`voltage_v` real NOT NULL,
	`current_a` real NOT NULL,
	`origin` text NOT NULL,
	`at` integer NOT NULL,
	`standby` integer NOT NULL
);
