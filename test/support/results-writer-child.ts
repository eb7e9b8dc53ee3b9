/**
 * A writer process for the SQLite results-store contract: opens the database file it is
 * given, says ready, and on "go" puts its writers' batches (each writer's in order, the
 * writers interleaved) and sends back the answers.
 */
import { SqliteResultsStore } from '../../shared/results/sqlite.js';
import type { StoredRecord } from '../../shared/results/store.js';

interface Job {
  path: string;
  writers: StoredRecord[][][];
}

process.once('message', (job: Job) => {
  const store = new SqliteResultsStore({ path: job.path });
  process.once('message', () => {
    void Promise.all(
      job.writers.map(async (batches) => {
        const out: boolean[][] = [];
        for (const b of batches) {
          out.push(await store.put(b));
          await new Promise((r) => setImmediate(r));
        }
        return out;
      }),
    ).then(
      async (answers) => {
        await store.close();
        process.send!({ answers }, () => process.disconnect());
      },
      (err: unknown) => {
        process.send!({ error: String((err as Error).stack ?? err) }, () => process.disconnect());
      },
    );
  });
  process.send!({ ready: true });
});
