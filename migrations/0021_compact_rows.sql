-- Compact rows (issue 15 item 2). Hand-written: frames and samples keep every row.
-- store_keys: small interned strings by kind ('device' ids, sample 'shape's (the ordered
-- reading names, JSON), 'text' readings), so a row holds an integer instead of the text.
CREATE TABLE `store_keys` (
	`id` integer PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `store_keys_kind_value_idx` ON `store_keys` (`kind`,`value`);
--> statement-breakpoint
-- A frame's channel: everything about it but its bytes, text and time (link, protocol,
-- direction, kind, device, address, meta), one row per distinct combination.
CREATE TABLE `frame_channels` (
	`id` integer PRIMARY KEY NOT NULL,
	`link` text NOT NULL,
	`protocol` text NOT NULL,
	`dir` text NOT NULL,
	`kind` text NOT NULL,
	`device_id` text,
	`address` text,
	`meta` text
);
--> statement-breakpoint
CREATE INDEX `frame_channels_link_idx` ON `frame_channels` (`link`,`protocol`,`dir`,`kind`);
--> statement-breakpoint
INSERT INTO `frame_channels` (`link`, `protocol`, `dir`, `kind`, `device_id`, `address`, `meta`)
SELECT DISTINCT `link`, `protocol`, `dir`, `kind`, `device_id`, `address`, `meta` FROM `frames`;
--> statement-breakpoint
-- id = ms * 1024 + the frame's rank within its ms (src/store/row-codec.ts); `ts` only where the
-- id does not say it (a fractional ts; more than 1024 frames in one ms, which go above every
-- other id, ordered by their old id). `text` is its length k where it is the first k bytes read
-- as ASCII (PI18 and RAPI lines without their checksum and CR).
INSERT INTO `store_keys` (`kind`, `value`) SELECT DISTINCT 'link', `link` FROM `frame_channels`;
--> statement-breakpoint
-- `lk`: the link's store_keys id, indexed (with the rowid SQLite appends: a link's frames in time
-- order; one index page per link touched by a write, however many channels a link has).
CREATE TABLE `__new_frames` (
	`id` integer PRIMARY KEY NOT NULL,
	`lk` integer NOT NULL,
	`ch` integer NOT NULL,
	`bytes` blob NOT NULL,
	`text` blob,
	`ts` integer
);
--> statement-breakpoint
INSERT INTO `__new_frames` (`id`, `lk`, `ch`, `bytes`, `text`, `ts`)
SELECT
	CASE WHEN r.rn <= 1024 THEN r.ms * 1024 + r.rn - 1 ELSE (r.maxms + 1) * 1024 + r.id END,
	(SELECT k.id FROM `store_keys` k WHERE k.kind = 'link' AND k.value = r.link),
	r.ch,
	r.bytes,
	CASE
		WHEN r.text IS NOT NULL AND length(r.text) > 0 AND length(r.text) <= length(r.bytes)
			AND length(CAST(r.text AS BLOB)) = length(r.text) AND CAST(r.text AS BLOB) = substr(r.bytes, 1, length(r.text)) THEN length(r.text)
		ELSE r.text
	END,
	CASE WHEN r.rn <= 1024 AND r.ts = r.ms THEN NULL ELSE r.ts END
FROM (
	SELECT f.id, f.ts, f.bytes, f.text, f.link, c.id AS ch,
		CAST(f.ts AS INTEGER) AS ms,
		row_number() OVER (PARTITION BY CAST(f.ts AS INTEGER) ORDER BY f.id) AS rn,
		max(CAST(f.ts AS INTEGER)) OVER () AS maxms
	FROM `frames` f
	JOIN `frame_channels` c ON c.link = f.link AND c.protocol = f.protocol AND c.dir = f.dir AND c.kind = f.kind
		AND c.device_id IS f.device_id AND c.address IS f.address AND c.meta IS f.meta
) r;
--> statement-breakpoint
-- Page cursors handed out before hold old ids: the store refuses them (BAD_CURSOR) instead of paging wrongly.
INSERT INTO `store_meta` (`key`, `value`) SELECT 'frames_ids_before_0021', max(`id`) FROM `frames` HAVING max(`id`) IS NOT NULL;
--> statement-breakpoint
DROP TABLE `frames`;
--> statement-breakpoint
ALTER TABLE `__new_frames` RENAME TO `frames`;
--> statement-breakpoint
CREATE INDEX `frames_link_idx` ON `frames` (`lk`);
--> statement-breakpoint
-- Samples: the device as its store_keys id, keyed (dev, ts); `v` keeps the JSON text of the rows
-- copied here until the store rewrites them as compact blobs (Store.compactLegacySamples, in the
-- background after open); the ids (the fleet outbox's cursor) and the AUTOINCREMENT sequence stay.
INSERT INTO `store_keys` (`kind`, `value`) SELECT DISTINCT 'device', `device_id` FROM `samples`;
--> statement-breakpoint
CREATE TABLE `__new_samples` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`dev` integer NOT NULL,
	`ts` integer NOT NULL,
	`v` blob NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_samples` (`id`, `dev`, `ts`, `v`)
SELECT s.id, k.id, s.ts, s."values" FROM `samples` s JOIN `store_keys` k ON k.kind = 'device' AND k.value = s.device_id ORDER BY s.id;
--> statement-breakpoint
INSERT INTO `sqlite_sequence` (`name`, `seq`)
SELECT '__new_samples', 0 WHERE NOT EXISTS (SELECT 1 FROM `sqlite_sequence` WHERE `name` = '__new_samples');
--> statement-breakpoint
UPDATE `sqlite_sequence` SET `seq` = max(`seq`, coalesce((SELECT `seq` FROM `sqlite_sequence` WHERE `name` = 'samples'), 0)) WHERE `name` = '__new_samples';
--> statement-breakpoint
DROP TABLE `samples`;
--> statement-breakpoint
ALTER TABLE `__new_samples` RENAME TO `samples`;
--> statement-breakpoint
CREATE INDEX `samples_dev_ts_idx` ON `samples` (`dev`,`ts`);
--> statement-breakpoint
INSERT INTO `store_meta` (`key`, `value`) SELECT 'samples_legacy_upto', max(`id`) FROM `samples` HAVING max(`id`) IS NOT NULL;
