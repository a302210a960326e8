-- Fleet forwarding (src/fleet/outbox.ts), self-contained: the outbox's durable cursors and the
-- change log of charge sessions. Events and samples already carry ids in log order; a charge
-- session is a row updated in place, so every insert or update of it (or of its phases) is
-- noted here by triggers, whatever code path wrote it.
CREATE TABLE `fleet_cursor` (
	`stream` text PRIMARY KEY NOT NULL,
	`last_id` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `fleet_session_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` text NOT NULL
);
--> statement-breakpoint
CREATE TRIGGER `fleet_session_inserted` AFTER INSERT ON `charge_sessions`
BEGIN
	INSERT INTO `fleet_session_changes` (`session_id`) VALUES (NEW.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `fleet_session_updated` AFTER UPDATE ON `charge_sessions`
BEGIN
	INSERT INTO `fleet_session_changes` (`session_id`) VALUES (NEW.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `fleet_phase_inserted` AFTER INSERT ON `charge_phases`
BEGIN
	INSERT INTO `fleet_session_changes` (`session_id`) VALUES (NEW.`session_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `fleet_phase_updated` AFTER UPDATE ON `charge_phases`
BEGIN
	INSERT INTO `fleet_session_changes` (`session_id`) VALUES (NEW.`session_id`);
END;
