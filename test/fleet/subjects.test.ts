import { describe, expect, it } from 'vitest';
import { FLEET_KINDS, msgIdOf, parseSubject, subjectOf } from '../../src/fleet/subjects.js';

describe('fleet subjects and message ids', () => {
  it('defect: sample 7 and session change 7 of a site had the same message id, so the stream dropped the session change as a duplicate', () => {
    const ids = FLEET_KINDS.map((k) => msgIdOf('site-a', k, 7));
    expect(new Set(ids).size).toBe(FLEET_KINDS.length);
  });

  it('a subject names one site and one kind', () => {
    expect(subjectOf('cabin-3', 'events')).toBe('pp.cabin-3.events');
    expect(parseSubject('pp.cabin-3.sessions')).toEqual({ site: 'cabin-3', kind: 'sessions' });
    expect(parseSubject('pp.a.b.c')).toBeNull();
  });
});
