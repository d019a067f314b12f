// A worker of bench/peers/node-cluster-relay.cjs: the same workload as msg-supervisor.mjs,
// over process.send through the cluster primary, with a hand-kept map of pending requests.
import { counter, measure } from './msg-measure.mjs';

if (process.env.ROLE === 'b') {
  const count = counter(() => process.send({ to: 'a', kind: 'credit' }));
  process.on('message', (m) => {
    if (m.kind === 'req') process.send({ to: 'a', kind: 'res', id: m.id, data: m.data });
    else if (m.kind === 'msg') count();
  });
} else {
  const pending = new Map();
  let nextId = 1;
  let onCredit = () => {};
  process.on('message', (m) => {
    if (m.kind === 'res') {
      const resolve = pending.get(m.id);
      pending.delete(m.id);
      resolve?.(m.data);
    } else if (m.kind === 'credit') onCredit();
  });
  const request = (data) =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      process.send({ to: 'b', kind: 'req', id, data });
    });
  await measure(
    {
      // b's listener is set before a could possibly ask: both start at once, so retry briefly.
      ready: async () => {
        for (;;) {
          const answer = await Promise.race([request('ready'), new Promise((r) => setTimeout(() => r(null), 100))]);
          if (answer) return;
        }
      },
      request,
      send: (data) => process.send({ to: 'b', kind: 'msg', data }),
      onCredit: (fn) => (onCredit = fn),
    },
    process.env.RESULT_FILE,
  );
  process.exit(0);
}
