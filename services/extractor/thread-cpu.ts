/**
 * Linux scheduling of the parse worker threads, through /proc: a worker reports its thread id,
 * the pool lowers the priority of document workers (so pages win the CPU when both compete)
 * and bounds each parse by the CPU time its thread actually used (so a document slowed down by
 * yielding is not cut short as if it were stuck).
 *
 * On Linux `setpriority(PRIO_PROCESS, tid)` (what `os.setPriority(tid, …)` calls) sets the
 * niceness of that one thread; any thread may lower its own process's threads, only a
 * privileged one may raise them again. A thread's CPU time is fields 14 and 15 (utime, stime)
 * of `/proc/self/task/<tid>/stat`, in clock ticks of 1/100 s (USER_HZ, fixed at 100 in
 * Linux's user ABI). Elsewhere (no /proc) every function answers null or false and the pool
 * falls back to wall-clock bounds at normal priority.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Clock ticks per second of /proc's CPU times (USER_HZ). */
const TICKS_PER_S = 100;

/** The calling thread's kernel thread id, or null when /proc does not say (not Linux). */
export function currentThreadId(): number | null {
  try {
    // "/proc/thread-self" -> "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** Sets the niceness (0..19) of one thread of this process; false when the system refused or has no per-thread priorities. */
export function setThreadNiceness(tid: number, niceness: number): boolean {
  try {
    setPriority(tid, niceness);
    return true;
  } catch {
    return false;
  }
}

/** CPU milliseconds (user + system) one thread of this process has used, or null when unknown (not Linux, thread gone). */
export function threadCpuMs(tid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "tid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1000) / TICKS_PER_S;
}
