/**
 * The GraphQL types of every device family, one line each. Loaded eagerly with the schema
 * (they import no driver, so no HID or serial module): the printed schema is the same for
 * every config.
 */
import './flatpack2/schema.js';
import './bms/schema.js';
