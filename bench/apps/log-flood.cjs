// Writes lines to stdout as fast as stdout takes them, for FLOOD_MS (default 10 s), then
// reports its rate on stderr ("flood-done <bytes> <ms>") and idles. Blocking writes of
// ready-made 64 KiB batches of 100-byte lines: what an app whose logger buffers would do, and
// cheap enough that the app is not what limits the rate. FLOOD_REPORT_MS: also reports its
// progress on stderr that often ("flood-at <bytes> <ms>"), for its rate over part of the run.
const fs = require('node:fs');
const ms = Number(process.env.FLOOD_MS || 10_000);
const line = 'x'.repeat(99) + '\n';
const batch = Buffer.from(line.repeat(655)); // 65,500 bytes of whole lines
const start = Date.now();
const reportMs = Number(process.env.FLOOD_REPORT_MS || 0);
let reportedAt = start;
let bytes = 0;
while (Date.now() - start < ms) {
  for (let i = 0; i < 16; i++) bytes += fs.writeSync(1, batch);
  const now = Date.now();
  if (reportMs > 0 && now - reportedAt >= reportMs) {
    reportedAt = now;
    fs.writeSync(2, `flood-at ${bytes} ${now - start}\n`);
  }
}
const took = Date.now() - start;
fs.writeSync(2, `flood-done ${bytes} ${took}\n`);
if (process.env.FLOOD_EXIT === '1') process.exit(0);
setInterval(() => {}, 1 << 30);
