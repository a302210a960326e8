// Preload (`node --import <this file>`) for server processes in disk tests where no tmpfs can be
// mounted: while the file named by PP_FAIL_WRITES_FLAG exists, every INSERT/UPDATE/DELETE through
// better-sqlite3 fails as SQLite does on a full disk (code SQLITE_FULL). Test-only.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';

const flag = process.env.PP_FAIL_WRITES_FLAG;
if (flag) {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1'));
  probe.close();
  const run = proto.run;
  proto.run = function (...args) {
    if (existsSync(flag) && /^\s*(INSERT|UPDATE|DELETE)/i.test(this.source)) {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    }
    return run.apply(this, args);
  };
}
