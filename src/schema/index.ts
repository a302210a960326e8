import { defaultFieldResolver } from 'graphql';
import { builder, type Context } from './builder.js';
import { runAsActor } from '../engine/actor.js';
import './devices.js';
import './history.js';
import './chargers.js';
import './jobs.js';
import './energy.js';
import './fleet.js';
import { loadFamilyGraphql } from '../families/registry.js';

// Each family's GraphQL types (its device type, its mutations) register with the builder first.
await loadFamilyGraphql();
export const schema = builder.toSchema();

// Every mutation runs as its caller: the events it records carry `actor` (token name or
// "local"), with no actor argument threaded through the engine.
for (const field of Object.values(schema.getMutationType()?.getFields() ?? {})) {
  const resolve = field.resolve ?? defaultFieldResolver;
  field.resolve = (parent, args, ctx: Context, info) => runAsActor(ctx.actor, () => resolve(parent, args, ctx, info));
}

export type { Context } from './builder.js';
