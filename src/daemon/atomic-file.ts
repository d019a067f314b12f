/**
 * Files written whole or not at all: to a temporary file in the same folder, then renamed into
 * place, so a crash (or a full disk) mid-write never leaves half a file where a reader looks.
 */
import { rename, rm, writeFile } from 'node:fs/promises';

let sequence = 0;

export async function writeFileAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.${sequence++}.tmp`;
  try {
    await writeFile(temporary, text, { mode: 0o600 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
