// Writes lines to stdout as fast as stdout takes them, for FLOOD_MS (default 10 s), then
// reports its rate on stderr ("flood-done <bytes> <ms>") and idles. Blocking writes of
// ready-made 64 KiB batches of 100-byte lines: what an app whose logger buffers would do, and
// cheap enough that the app is not what limits the rate.
const fs = require('node:fs');
const ms = Number(process.env.FLOOD_MS || 10_000);
const line = 'x'.repeat(99) + '\n';
const batch = Buffer.from(line.repeat(655)); // 65,500 bytes of whole lines
const start = Date.now();
let bytes = 0;
while (Date.now() - start < ms) {
  for (let i = 0; i < 16; i++) bytes += fs.writeSync(1, batch);
}
const took = Date.now() - start;
fs.writeSync(2, `flood-done ${bytes} ${took}\n`);
if (process.env.FLOOD_EXIT === '1') process.exit(0);
setInterval(() => {}, 1 << 30);
