/**
 * dump.json: the saved app list, versioned, written to a temporary file and renamed into place
 * so that a crash mid-write never leaves half a file. Only specs are saved: pids, restart
 * counts and other runtime facts mean nothing after a reboot.
 */
import { readFile } from 'node:fs/promises';
import type { AppSpec } from '../shared/app-spec.js';
import { validateAppSpec } from '../shared/app-spec-validate.js';
import { SupervisorError } from '../shared/errors.js';
import { isRecord } from '../shared/validate.js';
import { writeFileAtomically } from './atomic-file.js';
import { isoTime } from '../shared/iso-time.js';

const DUMP_VERSION = 1;

interface DumpFile {
  version: typeof DUMP_VERSION;
  savedAt: string;
  apps: AppSpec[];
}

export async function saveDump(file: string, apps: readonly AppSpec[]): Promise<void> {
  const dump: DumpFile = { version: DUMP_VERSION, savedAt: isoTime(), apps: [...apps] };
  await writeFileAtomically(file, `${JSON.stringify(dump, null, 2)}\n`);
}

export async function loadDump(file: string): Promise<AppSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new SupervisorError('NOT_FOUND', `nothing saved yet: ${file} does not exist (run: supervisor save)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SupervisorError('FAILED', `${file} is not valid JSON`);
  }
  if (!isRecord(raw) || raw['version'] !== DUMP_VERSION || !Array.isArray(raw['apps'])) {
    throw new SupervisorError('FAILED', `${file} is not a dump this version can read (version ${DUMP_VERSION} expected)`);
  }
  // A dump written before an option existed gets that option's default.
  return raw['apps'].map((app, i) => validateAppSpec(app, `${file}: apps[${i}]`, { fillDefaults: true }));
}
