/**
 * crawlctl: the command-line client of the controller's HTTP API.
 *
 *   crawlctl [--api URL] [--token T] [--json] <command> [options]
 *
 * This is the entry: it resolves the I/O, the API address and the token, parses the command
 * line and runs the command. The parts: client.ts (HTTP, errors, the ApiClient and the wire
 * types), commands.ts (the COMMANDS table and its handlers), render.ts (tables, progress,
 * formatting). `main` never exits the process: it returns the exit code (EXIT in client.ts).
 */
import { ApiClient, CliError, DEFAULT_API, EXIT, UsageError } from './client.js';
import { COMMANDS, commandUsage, DEFAULT_POLL_MS, flag, globalUsage, parseCommandLine, str, type CliIO, type CommandDef, type OptionValues, type ParsedCommandLine, type ResolvedIO } from './commands.js';

function resolveIO(io?: CliIO): ResolvedIO {
  const env = io?.env ?? process.env;
  const stderr = io?.stderr ?? process.stderr;
  const envPoll = Number(env.CRAWLCTL_POLL_MS);
  const columns = io?.columns ?? (stderr as { columns?: unknown }).columns;
  return {
    stdout: io?.stdout ?? process.stdout,
    stderr,
    isTTY: io?.isTTY ?? (stderr as { isTTY?: unknown }).isTTY === true,
    pollMs: io?.pollMs ?? (Number.isFinite(envPoll) && envPoll > 0 ? envPoll : DEFAULT_POLL_MS),
    env,
    ...(io?.signal ? { signal: io.signal } : {}),
    ...(typeof columns === 'number' && columns > 0 ? { columns } : {}),
    now: io?.now ?? Date.now,
  };
}

function resolveApi(values: OptionValues, env: NodeJS.ProcessEnv): string {
  const fromFlag = str(values, 'api');
  const raw = fromFlag ?? (env.CRAWLFLEET_API || DEFAULT_API);
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`${fromFlag !== undefined ? '--api' : 'CRAWLFLEET_API'} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

/** Runs crawlctl with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io?: CliIO): Promise<number> {
  const rio = resolveIO(io);
  const write = (stream: NodeJS.WritableStream) => (text: string): void => {
    stream.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  const out = write(rio.stdout);
  const err = write(rio.stderr);
  let parsed: ParsedCommandLine | null = null;
  try {
    parsed = parseCommandLine(argv);
    if (parsed.command === null) {
      if (flag(parsed.values, 'help')) {
        out(globalUsage());
        return EXIT.ok;
      }
      throw new UsageError('missing command');
    }
    const def = COMMANDS[parsed.command] as CommandDef;
    if (flag(parsed.values, 'help')) {
      out(commandUsage(def));
      return EXIT.ok;
    }
    if (parsed.positionals.length < def.args.min) throw new UsageError(def.args.missing, parsed.command);
    if (parsed.positionals.length > def.args.max) {
      throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[def.args.max])}`, parsed.command);
    }
    const api = def.local ? new ApiClient(DEFAULT_API) : new ApiClient(resolveApi(parsed.values, rio.env), resolveToken(parsed.values, rio.env));
    return await def.run({
      command: parsed.command,
      values: parsed.values,
      positionals: parsed.positionals,
      json: flag(parsed.values, 'json'),
      api,
      out,
      err,
      io: rio,
    });
  } catch (e) {
    if (e instanceof UsageError) {
      const name = e.command ?? parsed?.command ?? undefined;
      const def = name ? COMMANDS[name] : undefined;
      err(`crawlctl: ${e.message}\n\n${def ? commandUsage(def) : globalUsage()}`);
      return EXIT.usage;
    }
    if (e instanceof CliError) {
      err(`crawlctl: ${e.message}`);
      return e.exitCode;
    }
    err(`crawlctl: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.error;
  }
}

function resolveToken(values: OptionValues, env: NodeJS.ProcessEnv): string | undefined {
  const t = str(values, 'token') ?? (env.CRAWLFLEET_TOKEN || env.API_TOKEN);
  return t ? t : undefined;
}

