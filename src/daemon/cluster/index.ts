/**
 * What the rest of the daemon uses of cluster mode, in one module so it is loaded in one
 * step, on demand (see ../cluster-code.ts): a daemon of fork-mode apps never loads ./.
 */
export { isDatagram, socketKey } from './bind-target.js';
export { CLUSTER_CMD, connectionAck, isClusterMessage, parseFromWorker } from './cluster-messages.js';
export { sharedSocketsAvailable } from './shared-socket.js';
export { SocketTable } from './socket-table.js';
export { WorkerMember } from './worker-member.js';
