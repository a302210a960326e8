// Renders web-client/public/icon.svg to the PNG icons the web app manifest lists (192, 512,
// maskable 512), with Debian's chromium through playwright-core. Run: node scripts/make-icons.mjs
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
const svg = readFileSync(new URL('../web-client/public/icon.svg', import.meta.url), 'utf8');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
for (const [size, name, pad] of [[192, 'icon-192.png', 0], [512, 'icon-512.png', 0], [512, 'icon-maskable-512.png', 0.1]]) {
  const page = await browser.newPage({ viewport: { width: size, height: size } });
  await page.setContent(`<html><body style="margin:0;background:#0f1216"><div style="padding:${size * pad}px">${svg.replace('<svg ', `<svg width="${size * (1 - 2 * pad)}" height="${size * (1 - 2 * pad)}" `)}</div></body></html>`);
  await page.screenshot({ path: new URL(`../web-client/public/icons/${name}`, import.meta.url).pathname, omitBackground: false });
  await page.close();
}
await browser.close();
