/** Signals a process group; true if it was delivered. ESRCH (already gone) is not an error. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      // Not a group leader (it may have called setsid itself): reach the process at least.
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}
