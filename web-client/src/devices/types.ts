/** What the dashboard knows of a device type: its fields in the device query and its tile. */
import type { Row } from '../dom.js';
import type { Device } from '../types.js';

export interface DeviceUi {
  /** The GraphQL object type (the device's `__typename`). */
  typename: string;
  /** Its fields, spread into every device query as `... on <typename> { … }`. */
  fields: string;
  /** Its tile on the overview. */
  tile(d: Device): Row<Device>;
}
