/**
 * Stopping a process group and knowing when it is gone: commands and step runners each run in a
 * group of their own, so a stop reaches what they started too, and kiln returns only once
 * nothing of theirs runs (no command outlives kiln or writes into a sandbox kiln reuses).
 */
import { readdirSync, readFileSync } from "node:fs";

/**
 * SIGTERM to each group, then SIGKILL to what is left after `graceMs`; resolves once every
 * member is gone (or a second after the SIGKILL: not instant either).
 */
export async function stopProcessGroups(groups: readonly number[], graceMs: number): Promise<void> {
  const signalGroups = (signal: NodeJS.Signals) => {
    let alive = 0;
    for (const pid of groups) {
      try {
        process.kill(-pid, signal);
        alive++;
      } catch {
        // the group is gone
      }
    }
    return alive > 0;
  };
  if (!signalGroups("SIGTERM")) return;
  const gone = async (ms: number) => {
    for (let waited = 0; waited < ms; waited += 50) {
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 50));
      if (!anyLiveMember(groups)) return true;
    }
    return false;
  };
  if (await gone(graceMs)) return;
  signalGroups("SIGKILL");
  await gone(1000);
}

/**
 * True if a process of one of `groups` is still running. A member that has exited but was not
 * reaped (a zombie: where PID 1 does not reap orphans, as in some containers) still makes
 * kill(-group, 0) succeed, so Linux's /proc is read for the members' states; elsewhere, kill.
 */
export function anyLiveMember(groups: readonly number[]): boolean {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return groups.some((group) => {
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    });
  }
  const wanted = new Set(groups);
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (wanted.has(Number(fields[2])) && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}
