// drizzle-kit configuration of the central service's PostgreSQL schema (src/fleet/central.ts):
// `npx drizzle-kit generate --config drizzle.central.config.ts --name <what>`.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './drizzle/central-schema.ts',
  out: './migrations-central',
});
