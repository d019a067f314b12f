/**
 * Whether this code runs from one of the CommonJS bundles the build makes of the daemon and
 * the CLI (scripts/bundle.mjs), or from the ES modules tsc emits (unit tests, tsx, the API).
 *
 * The daemon and the CLI ship as bundles because Node's ES module loader costs them: the
 * daemon holds about 1 MiB less resident memory as one CommonJS file, and `supervisor list`
 * starts 25-32 ms sooner (docs/ARCHITECTURE.md, "Build"). The few places where the two
 * differ ask here.
 */

/** Replaced by `true` in the bundles (esbuild's `define`); never declared anywhere else. */
declare const SUPERVISOR_BUNDLE: true | undefined;

export const BUNDLED: boolean = typeof SUPERVISOR_BUNDLE !== 'undefined';

/**
 * require() of a CommonJS package (or a file by absolute path). In a bundle this is the
 * module's own `require`; elsewhere one made for this file. Not `createRequire` at the top:
 * importing node:module loads Node's ES module loader (for `module.register`), the very
 * thing the bundles leave out.
 */
export function requireCommonJs(specifier: string): unknown {
  if (BUNDLED) return require(specifier);
  return process.getBuiltinModule('node:module').createRequire(import.meta.url)(specifier);
}
