/**
 * The Node internals the daemon and the runtime rely on are feature-detected: each check on
 * this Node (real servers, a real forked process), and the path taken when one is missing.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_HANDOFF_ERROR, takeListenHandle } from '../../src/daemon/cluster/owned-socket.js';
import { internalRouteAvailable } from '../../src/runtime/channel.js';
import { ROOT } from '../helpers.js';

describe('hand-off: the listening handle of a net.Server', () => {
  it('is taken from a listening server on this Node, which then holds none', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const handle = takeListenHandle(server);
    try {
      expect(handle).not.toBeNull();
      expect(typeof handle?.onconnection).toBe('function');
      expect(server.listening).toBe(false);
    } finally {
      await new Promise<void>((resolve) => (handle ? handle.close(resolve) : server.close(() => resolve())));
    }
  });

  it('is left alone, and the listen fails with one clear error, when the internals do not look as expected', () => {
    const noHandle = { _handle: undefined } as unknown as net.Server;
    expect(takeListenHandle(noHandle)).toBeNull();
    const close = (): void => undefined;
    const withoutCallback = { _handle: { close } } as unknown as net.Server;
    expect(takeListenHandle(withoutCallback)).toBeNull();
    expect((withoutCallback as unknown as { _handle: unknown })._handle).toEqual({ close });
    expect(NO_HANDOFF_ERROR.code).toBe('ENOTSUP');
    expect(NO_HANDOFF_ERROR.errno).toBeLessThan(0);
    expect(NO_HANDOFF_ERROR.message).toContain('balance os');
    expect(NO_HANDOFF_ERROR.message).not.toContain('\n');
  });
});

describe("the runtime's 'internalMessage' route", () => {
  it('is detected in a real forked process on this Node', async () => {
    const code = `import { internalRouteAvailable } from ${JSON.stringify(join(ROOT, 'dist', 'runtime', 'channel.js'))}; process.send(internalRouteAvailable(), () => process.disconnect());`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const available = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('no answer from the child'));
      }, 10_000);
      child.once('message', (value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    expect(available).toBe(true);
  });

  it('is reported missing without a channel, or when Node listens for nothing there', () => {
    expect(internalRouteAvailable({ channel: undefined, listenerCount: () => 1 })).toBe(false);
    expect(internalRouteAvailable({ channel: {} as NodeJS.Process['channel'], listenerCount: () => 0 })).toBe(false);
    expect(internalRouteAvailable({ channel: {} as NodeJS.Process['channel'], listenerCount: () => 1 })).toBe(true);
    // This test process has no IPC channel.
    expect(internalRouteAvailable()).toBe(process.channel != null);
  });
});
