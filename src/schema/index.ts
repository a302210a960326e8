import { builder } from './builder.js';
import './devices.js';
import './history.js';
import './chargers.js';
import './batteries.js';

export const schema = builder.toSchema();
export type { Context } from './builder.js';
