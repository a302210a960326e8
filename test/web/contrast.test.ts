/** Contrast of the dashboard's text colours on its backgrounds (WCAG 2.x AA: ≥ 4.5:1 for body text), read from styles.css. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const css = readFileSync(join(import.meta.dirname, '..', '..', 'web-client', 'src', 'styles.css'), 'utf8');
const v = (name: string) => css.match(new RegExp(`--${name}:\\s*(#[0-9a-fA-F]{6})`))![1];

function lum(hex: string): number {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
const ratio = (a: string, b: string) => {
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};

describe('dashboard contrast', () => {
  it('every text colour reaches 4.5:1 on every panel background, and the focus ring 3:1', () => {
    for (const bg of ['bg', 'panel', 'panel-2']) {
      for (const fg of ['text', 'muted', 'accent', 'ok', 'warn', 'bad']) expect(ratio(v(fg), v(bg)), `${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
      expect(ratio(v('focus'), v(bg)), `focus on ${bg}`).toBeGreaterThanOrEqual(3);
    }
    // The banners' own pairs.
    expect(ratio('#ffd0d0', '#3b1212')).toBeGreaterThanOrEqual(4.5);
    expect(ratio('#ffd98a', '#3a2a05')).toBeGreaterThanOrEqual(4.5);
    expect(css).toMatch(/:focus-visible\s*\{\s*outline: 3px solid var\(--focus\)/);
  });
});
