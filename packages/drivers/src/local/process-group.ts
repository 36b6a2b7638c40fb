/**
 * Signals every process of a group (the command was spawned `detached`, so its pid is the group id).
 * Returns false when the group is gone. The group id can only be reused once every member has exited,
 * so a late signal never reaches a stranger in practice (the grace is seconds, pid reuse takes a wrap).
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}
