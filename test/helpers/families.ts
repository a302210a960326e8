/** Every registered device family, loaded once for the test helpers that build rigs synchronously. */
import { loadFamilies } from '../../src/families/registry.js';

export const families = await loadFamilies();
