/** The optional `mqtt:` section: a broker the user runs (Mosquitto, Home Assistant's add-on…). */
import { z } from 'zod';

const topicPart = z
  .string()
  .min(1)
  .regex(/^[^#+\u0000]+$/, 'a topic prefix without MQTT wildcards (# +)')
  .refine((s) => !s.startsWith('/') && !s.endsWith('/'), 'no leading or trailing "/"');

export const mqttSchema = z
  .object({
    /** mqtt://host:1883, mqtts://host:8883, ws://… */
    url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, 'a broker URL such as mqtt://192.168.1.10:1883'),
    username: z.string().optional(),
    password: z.string().optional(),
    clientId: z.string().min(1).optional(),
    /** Every state, availability and command topic is under it. */
    rootTopic: topicPart.default('powerplane'),
    /** Home Assistant discovery (retained configs under discoveryPrefix). */
    discovery: z.boolean().default(true),
    discoveryPrefix: topicPart.default('homeassistant'),
    /** Commands on …/set topics (charge start/stop, standby, PSU voltage/current), with the operator role. */
    commands: z.boolean().default(true),
  })
  .strict();

export type MqttConfig = z.infer<typeof mqttSchema>;
