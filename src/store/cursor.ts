// Opaque page cursors: base64 of the row id. Opaque so the API can change what they
// hold without breaking clients that only pass them back.

export function encodeCursor(id: number): string {
  return Buffer.from(String(id), 'utf8').toString('base64');
}

/** null/undefined → no cursor (first page). Throws on a cursor this store never issued. */
export function decodeCursor(cursor: string | null | undefined): number | null {
  if (cursor === null || cursor === undefined || cursor === '') return null;
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new CursorError(`invalid page cursor ${JSON.stringify(cursor)}: pass back an endCursor from a previous page`);
  }
  return Number(text);
}

/** A cursor this store never issued; `code` is the API's refusal code (src/codes.ts). */
export class CursorError extends Error {
  readonly code = 'BAD_CURSOR' as const;
}
