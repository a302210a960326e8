/** The site's forwarding to its fleet's central service: the backlog and its age (null when off). */
import { builder } from './builder.js';
import { outboxOf } from '../fleet/attach.js';
import type { FleetBacklog } from '../fleet/outbox.js';

const FleetForwarding = builder.objectRef<FleetBacklog>('FleetForwarding').implement({
  description: "Forwarding of this site's log to the fleet's NATS JetStream (fleet: in the config).",
  fields: (t) => ({
    siteId: t.exposeString('siteId'),
    connected: t.exposeBoolean('connected', { description: 'NATS acknowledges what is sent' }),
    backlog: t.exposeInt('total', { description: 'rows (events, samples, session changes) not yet acknowledged' }),
    events: t.exposeInt('events'),
    samples: t.exposeInt('samples'),
    sessions: t.exposeInt('sessions', { description: 'charge-session changes' }),
    oldestAt: t.field({ type: 'DateTime', nullable: true, description: 'time of the oldest row waiting', resolve: (b) => b.oldestTs }),
    ageMs: t.float({ nullable: true, description: 'age of the oldest row waiting, ms', resolve: (b) => b.ageMs }),
    offlineSince: t.field({ type: 'DateTime', nullable: true, description: 'when forwarding first failed since the last acknowledgement (null while NATS acknowledges)', resolve: (b) => b.offlineSince }),
    sent: t.exposeInt('sent', { description: 'messages acknowledged since start' }),
    lastError: t.exposeString('lastError', { nullable: true, description: 'why the last publish failed (null after a success)' }),
  }),
});

builder.queryField('fleet', (t) =>
  t.field({
    type: FleetForwarding,
    nullable: true,
    description: "This site's forwarding to the fleet's central service; null when fleet: is not configured.",
    resolve: (_root, _args, ctx) => outboxOf(ctx.engine)?.backlog() ?? null,
  }),
);
