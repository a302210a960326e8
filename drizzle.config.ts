// drizzle-kit configuration: `npx drizzle-kit generate --name <what>` writes SQL
// migrations for drizzle/schema.ts into migrations/; Store.open() applies them at start.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './drizzle/schema.ts',
  out: './migrations',
});
