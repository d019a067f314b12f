/** Keys from a terminal in raw mode: bytes in, key names out. Unknown sequences are skipped. */

export type Key = 'up' | 'down' | 'page-up' | 'page-down' | 'home' | 'end' | 'quit' | 'restart' | 'reload' | 'stop';

const SEQUENCES: Record<string, Key> = {
  '\x1b[A': 'up',
  '\x1bOA': 'up',
  '\x1b[B': 'down',
  '\x1bOB': 'down',
  '\x1b[5~': 'page-up',
  '\x1b[6~': 'page-down',
  '\x1b[H': 'home',
  '\x1bOH': 'home',
  '\x1b[1~': 'home',
  '\x1b[7~': 'home',
  '\x1b[F': 'end',
  '\x1bOF': 'end',
  '\x1b[4~': 'end',
  '\x1b[8~': 'end',
};

const LETTERS: Record<string, Key> = {
  k: 'up',
  j: 'down',
  g: 'home',
  G: 'end',
  q: 'quit',
  Q: 'quit',
  '\x03': 'quit', // Ctrl-C: raw mode delivers it as a byte, not as SIGINT
  '\x04': 'quit', // Ctrl-D
  r: 'restart',
  l: 'reload',
  s: 'stop',
};

export function parseKeys(input: string): Key[] {
  const keys: Key[] = [];
  let i = 0;
  while (i < input.length) {
    if (input[i] === '\x1b') {
      // ESC [ or ESC O, then parameters, then one final byte.
      const match = /^\x1b(?:\[[0-?]*[ -/]*[@-~]|O[@-~])?/.exec(input.slice(i)) as RegExpExecArray;
      const key = SEQUENCES[match[0]];
      if (key) keys.push(key);
      i += match[0].length;
      continue;
    }
    const key = LETTERS[input[i] as string];
    if (key) keys.push(key);
    i += 1;
  }
  return keys;
}
