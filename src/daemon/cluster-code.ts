/**
 * The daemon's cluster-mode code (./cluster/: the sockets it owns, the balancers, Node's cluster
 * protocol), loaded when the first cluster-mode spec is checked. A daemon whose apps all run in
 * fork mode never loads it. That kept about 0.6 MiB out of its resident memory when each module
 * was a file of its own; in the daemon's bundle (docs/ARCHITECTURE.md, "Build") the code is in
 * the file either way and running its module bodies early makes no difference bench/cli.mjs can
 * see, so the split now only keeps fork-mode daemons from doing work they do not need.
 *
 * Every spec reaches the daemon's apps through `Registry.verify` (start, a config file's
 * update, the apps a crashed daemon left, dump.json), and verify awaits `loadClusterCode()` for
 * a cluster-mode spec; so code that runs only for cluster-mode apps (their processes' cluster
 * messages, their workers' membership, their sockets) takes it synchronously with
 * `clusterCode()`, which throws only if that order were ever broken.
 */
import type * as Cluster from './cluster/index.js';

export type ClusterCode = typeof Cluster;

let loaded: ClusterCode | null = null;
let loading: Promise<ClusterCode> | null = null;

export function loadClusterCode(): Promise<ClusterCode> {
  loading ??= import('./cluster/index.js').then(
    (code) => (loaded = code),
    (error: unknown) => {
      loading = null;
      throw error;
    },
  );
  return loading;
}

export function clusterCode(): ClusterCode {
  if (!loaded) throw new Error('cluster-mode code used before loadClusterCode(): a cluster-mode spec reached an app without Registry.verify');
  return loaded;
}
