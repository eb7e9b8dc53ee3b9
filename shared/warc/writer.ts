/**
 * WARC file writers. A `WarcFileWriter` appends one session's records for one replica: each
 * record its own gzip member, the records of one exchange (request + response) in one write so
 * they never straddle two files, a `warcinfo` record first in every file, a new file when the
 * next write would pass `maxFileBytes`, and on close the file's CDXJ index beside it (written
 * under a temporary name, then renamed). Files are created exclusively (`wx`), so two writers
 * never share one. `WarcWriters` keeps a process's writers by session, closes the idle ones
 * (and so indexes their files) and closes all of them at shutdown.
 */
import { hostname } from 'node:os';
import { mkdir, open, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { cdxjFile, cdxjLine } from './cdxj.js';
import { CDXJ_SUFFIX, warcFileName } from './files.js';
import { gzipMember, warcFields, warcRecord, type WarcRecord } from './record.js';

/** One record to append, with what its index line says about a response. */
export interface WarcEntry {
  record: WarcRecord;
  status?: number;
  mime?: string;
}

export interface WarcWriterOptions {
  dir: string;
  sessionId: string;
  /** The writing replica's id (part of every file name). */
  replica: string;
  /** Read at every write: a live change applies to the next rollover. */
  maxFileBytes(): number;
  /** `software` of the warcinfo record. */
  software: string;
  now?(): Date;
}

interface OpenFile {
  name: string;
  handle: FileHandle;
  bytes: number;
  records: number;
  index: string[];
}

export class WarcFileWriter {
  private file: OpenFile | null = null;
  private serial = 0;
  /** Writes, one after another. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** When the last write ended (WarcWriters closes idle writers). */
  lastWriteAt = Date.now();

  constructor(private readonly opts: WarcWriterOptions) {}

  /** The names of the files this writer made (the current one last). */
  readonly files: string[] = [];

  /** Appends the entries together (one file), after the writes before it. */
  write(entries: readonly WarcEntry[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`WARC writer of session ${this.opts.sessionId} is closed`));
    const run = this.chain.then(() => this.append(entries));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Closes the current file (and writes its index) after the pending writes; a later write opens a new file. */
  rollover(): Promise<void> {
    const run = this.chain.then(() => this.closeFile());
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Closes for good: pending writes finish, the file is closed and indexed. */
  close(): Promise<void> {
    this.closed = true;
    return this.rollover();
  }

  private async append(entries: readonly WarcEntry[]): Promise<void> {
    const members = entries.map((e) => gzipMember(e.record));
    const size = members.reduce((n, m) => n + m.length, 0);
    if (this.file && this.file.bytes + size > this.opts.maxFileBytes() && this.file.records > 1) await this.closeFile();
    const file = this.file ?? (await this.openFile());
    let offset = file.bytes;
    await file.handle.write(members.length === 1 ? (members[0] as Buffer) : Buffer.concat(members, size));
    entries.forEach((e, i) => {
      const length = (members[i] as Buffer).length;
      const line = cdxjLine({ record: e.record, offset, length, filename: file.name, ...(e.status !== undefined ? { status: e.status } : {}), ...(e.mime !== undefined ? { mime: e.mime } : {}) });
      if (line !== null) file.index.push(line);
      offset += length;
    });
    file.bytes = offset;
    file.records += entries.length;
    this.lastWriteAt = Date.now();
  }

  private async openFile(): Promise<OpenFile> {
    const { dir, sessionId, replica } = this.opts;
    await mkdir(dir, { recursive: true });
    for (;;) {
      const now = this.opts.now?.() ?? new Date();
      const name = warcFileName(sessionId, now, this.serial++, replica);
      let handle: FileHandle;
      try {
        handle = await open(join(dir, name), 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      const info = warcRecord({
        type: 'warcinfo',
        date: now,
        contentType: 'application/warc-fields',
        fields: [['WARC-Filename', name]],
        block: warcFields([
          ['software', this.opts.software],
          ['format', 'WARC File Format 1.1'],
          ['conformsTo', 'http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/'],
          ['hostname', hostname()],
          ['isPartOf', sessionId],
          ['replica', replica],
        ]),
      });
      const member = gzipMember(info);
      await handle.write(member);
      this.file = { name, handle, bytes: member.length, records: 1, index: [] };
      this.files.push(name);
      return this.file;
    }
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = null;
    try {
      await file.handle.sync();
    } finally {
      await file.handle.close();
    }
    const path = join(this.opts.dir, file.name + CDXJ_SUFFIX);
    await writeFile(`${path}.tmp`, cdxjFile(file.index));
    await rename(`${path}.tmp`, path);
  }
}

export interface WarcWritersOptions {
  dir(): string;
  replica: string;
  maxFileBytes(): number;
  /** A session's writer idle this long closes its file (and indexes it). */
  idleCloseMs(): number;
  software: string;
  onError?(err: unknown, sessionId: string): void;
}

/** A process's writers, one per session. */
export class WarcWriters {
  private readonly writers = new Map<string, WarcFileWriter>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: WarcWritersOptions) {}

  /** Appends entries to the session's file (opened on first use). */
  write(sessionId: string, entries: readonly WarcEntry[]): Promise<void> {
    let w = this.writers.get(sessionId);
    if (!w) {
      w = new WarcFileWriter({ dir: this.opts.dir(), sessionId, replica: this.opts.replica, maxFileBytes: this.opts.maxFileBytes, software: this.opts.software });
      this.writers.set(sessionId, w);
      this.startTimer();
    }
    return w.write(entries);
  }

  /** Closes the writers idle for idleCloseMs: their files get their indexes. */
  async closeIdle(now = Date.now()): Promise<void> {
    const idle = [...this.writers].filter(([, w]) => now - w.lastWriteAt >= this.opts.idleCloseMs());
    await Promise.all(idle.map(async ([id, w]) => {
      this.writers.delete(id);
      await w.close().catch((err: unknown) => this.opts.onError?.(err, id));
    }));
    if (this.writers.size === 0) this.stopTimer();
  }

  /** Closes every writer (graceful shutdown). */
  async close(): Promise<void> {
    this.stopTimer();
    const all = [...this.writers];
    this.writers.clear();
    await Promise.all(all.map(([id, w]) => w.close().catch((err: unknown) => this.opts.onError?.(err, id))));
  }

  private startTimer(): void {
    if (this.timer) return;
    const every = Math.max(100, Math.min(this.opts.idleCloseMs(), 5000));
    this.timer = setInterval(() => void this.closeIdle(), every);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
