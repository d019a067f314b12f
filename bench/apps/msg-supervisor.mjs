// Supervisor contender for bench/messages.mjs: ROLE=b answers requests and counts messages;
// ROLE=a measures against it (app "msg-b") and writes RESULT_FILE.
import { on, onRequest, request, send } from 'supervisor-node/process';
import { counter, measure } from './msg-measure.mjs';

if (process.env.ROLE === 'b') {
  onRequest((data) => data);
  const count = counter(() => void send('msg-a', 'credit'));
  on('message', count);
} else {
  let onCredit = () => {};
  on('message', () => onCredit());
  await measure(
    {
      ready: () => request('msg-b', 'ready', { timeout: 30_000 }),
      request: (data) => request('msg-b', data),
      send: (data) => void send('msg-b', data),
      onCredit: (fn) => (onCredit = fn),
    },
    process.env.RESULT_FILE,
  );
}
