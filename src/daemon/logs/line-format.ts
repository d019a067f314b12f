/**
 * How lines are written: as the app wrote them (no work per line at all), prefixed with a
 * timestamp (`log_date_format`, `time`: "<date>: <line>", as pm2 writes them), or as one JSON
 * object per line (`log_type: 'json'`, pm2's fields).
 */
import { cachedDateFormat } from '../../shared/log-date-format.js';
import { isoTime } from '../../shared/iso-time.js';

export interface LineOrigin {
  /** The process id (pm2's process_id). */
  id: number;
  stream: 'out' | 'err';
}

/** Turns a buffer of whole lines into what goes to the file. */
export type LineFormat = (lines: Buffer, origin: LineOrigin) => Buffer;

export function lineFormat(options: { app: string; dateFormat: string | null; json: boolean }): LineFormat | null {
  if (options.json) return jsonLines(options.app, options.dateFormat);
  if (options.dateFormat) return prefixedLines(options.dateFormat);
  return null;
}

function prefixedLines(format: string): LineFormat {
  const now = cachedDateFormat(format);
  return (lines) => {
    // Lines that arrived together share their moment.
    const prefix = Buffer.from(`${now()}: `);
    const parts: Buffer[] = [];
    let start = 0;
    for (let nl = lines.indexOf(10); nl >= 0; nl = lines.indexOf(10, start)) {
      parts.push(prefix, lines.subarray(start, nl + 1));
      start = nl + 1;
    }
    return Buffer.concat(parts);
  };
}

function jsonLines(app: string, format: string | null): LineFormat {
  const now = format ? cachedDateFormat(format) : () => isoTime();
  return (lines, origin) => {
    const timestamp = now();
    const messages = lines.toString('utf8').split('\n');
    // Every buffer here ends with a newline: the text after it is empty.
    messages.pop();
    let out = '';
    for (const message of messages) {
      out += `${JSON.stringify({ message, timestamp, type: origin.stream, process_id: origin.id, app_name: app })}\n`;
    }
    return Buffer.from(out);
  };
}
