/**
 * How many single-bit errors on the serial line each Waveshare framing lets through: every bit of
 * typical Flatpack2 and BMS frames is flipped once and the result decoded. Prints JSON per framing:
 * flips, how many still decoded as some CAN frame, how many of those the codecs' plausibility
 * bounds turned into `invalid`, and how many became a (plausible, but wrong) reading.
 * Run: npx tsx scripts/framing-flips.ts
 */
import { encodeFrame, WaveshareDecoder } from '../src/families/can/waveshare.js';
import { decodeFp2, encodeStatus } from '../src/families/flatpack2/codec.js';
import { decodeBms, encodeCellExtremes, encodeChargeLimits, encodeMeasurements, encodeModuleStatus, encodeSoc } from '../src/families/bms/codec.js';

const frames = [
  encodeStatus({ addr: 1, stateCode: 4, intakeTempC: 27, currentA: 15.2, voltageV: 53.4, inputVoltageV: 231, outputTempC: 35 }),
  encodeStatus({ addr: 2, stateCode: 8, intakeTempC: 30, currentA: 29.9, voltageV: 55.1, inputVoltageV: 240, outputTempC: 48 }),
  encodeChargeLimits({ chargeVoltageLimitV: 57.6, chargeCurrentLimitA: 100, dischargeCurrentLimitA: 100, dischargeVoltageV: 48 }),
  encodeSoc({ socPct: 60, sohPct: 100 }),
  encodeMeasurements({ voltageV: 53.2, currentA: 20, tempC: 25 }, 'deye'),
  encodeCellExtremes({ cellHighV: 3.34, cellLowV: 3.33, tempHighC: 26, tempLowC: 25 }),
  encodeModuleStatus(1, { voltageV: 53.2, currentA: 10, socPct: 60, sohPct: 100 }),
];

for (const framing of ['variable', 'fixed'] as const) {
  let flips = 0;
  let decodedAsFrame = 0;
  let invalidByBounds = 0;
  let reading = 0;
  for (const f of frames) {
    const wire = encodeFrame(f, framing);
    for (let bit = 0; bit < wire.length * 8; bit++) {
      const x = Uint8Array.from(wire);
      x[bit >> 3] ^= 1 << (bit & 7);
      const got = new WaveshareDecoder().push(x);
      flips++;
      if (got.length) decodedAsFrame++;
      for (const g of got) {
        const m = g.extended ? decodeFp2(g) : decodeBms(g, 'deye');
        if (m.kind === 'invalid') invalidByBounds++;
        else if (m.kind !== 'unknown') reading++;
      }
    }
  }
  console.log(JSON.stringify({ framing, flips, decodedAsFrame, pct: Number(((100 * decodedAsFrame) / flips).toFixed(1)), invalidByBounds, reading }));
}
