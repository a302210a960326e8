CREATE TABLE "charge_sessions" (
	"site_id" text NOT NULL,
	"id" text NOT NULL,
	"change_id" bigint NOT NULL,
	"charger_id" text NOT NULL,
	"started_at" bigint NOT NULL,
	"ended_at" bigint,
	"outcome" text,
	"session" jsonb NOT NULL,
	"phases" jsonb NOT NULL,
	CONSTRAINT "charge_sessions_site_id_id_pk" PRIMARY KEY("site_id","id")
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"site_id" text NOT NULL,
	"device_id" text NOT NULL,
	"last_ts" bigint,
	"values" jsonb,
	"last_event_ts" bigint,
	"last_event_type" text,
	CONSTRAINT "devices_site_id_device_id_pk" PRIMARY KEY("site_id","device_id")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"site_id" text NOT NULL,
	"id" bigint NOT NULL,
	"ts" bigint NOT NULL,
	"type" text NOT NULL,
	"device_id" text,
	"bus_id" text,
	"data" jsonb NOT NULL,
	"alarm" boolean NOT NULL,
	"received_at" bigint NOT NULL,
	CONSTRAINT "events_site_id_id_pk" PRIMARY KEY("site_id","id")
);
--> statement-breakpoint
CREATE TABLE "samples" (
	"site_id" text NOT NULL,
	"id" bigint NOT NULL,
	"ts" bigint NOT NULL,
	"device_id" text NOT NULL,
	"values" jsonb NOT NULL,
	CONSTRAINT "samples_site_id_id_pk" PRIMARY KEY("site_id","id")
);
--> statement-breakpoint
CREATE TABLE "sites" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"last_seen" bigint NOT NULL,
	"backlog" integer,
	"backlog_age_ms" bigint,
	"status_at" bigint
);
--> statement-breakpoint
CREATE INDEX "charge_sessions_started_idx" ON "charge_sessions" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "events_ts_idx" ON "events" USING btree ("ts");--> statement-breakpoint
CREATE INDEX "events_type_ts_idx" ON "events" USING btree ("type","ts");--> statement-breakpoint
CREATE INDEX "events_alarm_received_idx" ON "events" USING btree ("alarm","received_at");--> statement-breakpoint
CREATE INDEX "samples_site_device_ts_idx" ON "samples" USING btree ("site_id","device_id","ts");