/** What the runner knows about a target: how to call it, and which process to measure. */
import type { RedisBackend } from '../backends/redis-backend.ts';
import type { CpuPlan } from '../cpu-pinning.ts';
import type { ProcessGroup } from '../managed-process.ts';
import type { ScenarioName } from '../options.ts';
import type { Upstream } from '../upstreams/upstream.ts';

/** One kind of call to a target: where to send it and with what. */
export interface RequestShape {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** The account API calls of the mixed scenario (Tollgate only). */
export interface AccountShape {
  url: string;
  headers: Record<string, string>;
  /** Body of POST /api/v1/proxy/llm (non-streaming, to the fast upstream). */
  llmBody: string;
}

/** A started target. */
export interface RunningTarget {
  readonly name: string;
  /** One line for the report: what runs and how it is configured. */
  readonly description: string;
  /** The process under test (CPU and RSS are read from its tree); null for direct. */
  readonly pid: number | null;
  /** More processes of the same target (a pair of nodes): their CPU and RSS are added to pid's. */
  readonly extraPids?: readonly number[];
  /** Non-streaming chat completion, relayed to the fast upstream. */
  readonly chat: RequestShape;
  /** Streaming chat completion, relayed to the mock provider. */
  readonly stream: RequestShape;
  /** The same stream for a model on an Anthropic channel (the same mock): translated both ways. Tollgate only. */
  readonly translatedStream?: RequestShape;
  /** The same stream for a model with 30 response filter rules in scope. Tollgate only. */
  readonly filteredStream?: RequestShape;
  /**
   * The 'cached' scenario's request; `fromCache`: the target answers it from a cache (Tollgate's
   * response cache: no upstream hit after the first), else it relays every one (the baseline).
   */
  readonly cached?: { shape: RequestShape; fromCache: boolean };
  /** A service call relayed through two nodes in series (the 'hop' scenario); service pairs only. */
  readonly hop?: RequestShape;
  readonly account: AccountShape | null;
  /** Only these scenarios run against it (the cost-breakdown variants run 'chat' only); absent: all. */
  readonly onlyScenarios?: readonly ScenarioName[];
  /** The Redis server the target uses (Redis mode), for the round-trip probe. */
  readonly redis: RedisBackend | null;
  /** Counters read around each run (e.g. Redis commands); the runner reports the difference. */
  counters(): Promise<Record<string, number>>;
  /** File of the event-loop probe loaded into `pid` (bench/loop-probe-preload.ts); absent: not loaded. */
  readonly loopProbeFile?: string;
  stop(): Promise<void>;
}

/** What a target needs to start. */
export interface TargetContext {
  group: ProcessGroup;
  cpus: CpuPlan | null;
  /** Upstream for non-streaming runs (nginx when installed, else the mock). */
  fast: Upstream;
  /** The mock provider, for streaming runs. */
  streamUpstream: Upstream;
  /** Scratch folder of this bench run (data dirs, logs). */
  workDir: string;
  /** Write a V8 CPU profile of each Tollgate target here when it stops (--cpu-prof); null: none. */
  cpuProfDir: string | null;
}

/** A target the runner can start, or skip with a note when it is not available. */
export interface TargetDefinition {
  readonly name: string;
  /** Resolves to the running target, or to a string saying why it is skipped. */
  start(context: TargetContext): Promise<RunningTarget | string>;
}

/** Model names the bench uses; the Tollgate targets route each to its upstream. */
export const fastModel = 'bench-fast';
export const streamModel = 'bench-stream';
export const translatedStreamModel = 'bench-stream-claude';
export const filteredStreamModel = 'bench-stream-filtered';

/**
 * 30 response filter rules for the 'filtered' scenario: 20 literals (words the mock's
 * answers contain, so replacements happen) and 10 regexes of the kinds operators write.
 */
export const benchFilterRules: ReadonlyArray<{ kind: 'literal' | 'regex'; pattern: string; replace: string; maxLength?: number }> = [
  ...['the', 'of', 'and', 'to', 'in', 'that', 'for', 'with', 'was', 'this', 'from', 'have', 'are', 'but', 'not', 'you', 'all', 'can', 'had', 'one']
    .map((word) => ({ kind: 'literal' as const, pattern: ` ${word} `, replace: ` ${word.toUpperCase()} ` })),
  { kind: 'regex', pattern: 'sk-[A-Za-z0-9]{20,40}', replace: '[key]', maxLength: 43 },
  { kind: 'regex', pattern: '\\d{3}-\\d{3}-\\d{4}', replace: '[phone]', maxLength: 12 },
  { kind: 'regex', pattern: '[\\w.]+@[\\w-]+\\.(com|org|net)', replace: '[email]', maxLength: 64 },
  { kind: 'regex', pattern: '(?:Claude|GPT-4o?|Gemini)', replace: 'the assistant', maxLength: 6 },
  { kind: 'regex', pattern: 'colou?r', replace: 'hue', maxLength: 6 },
  { kind: 'regex', pattern: 'https?://[^ ]{4,60}', replace: '[link]', maxLength: 68 },
  { kind: 'regex', pattern: '[A-Z]{3,5}-\\d{2,6}', replace: '[ticket]', maxLength: 12 },
  { kind: 'regex', pattern: 'As an AI(?: language)? model,?', replace: '', maxLength: 30 },
  { kind: 'regex', pattern: '(?:TODO|FIXME):?', replace: '', maxLength: 6 },
  { kind: 'regex', pattern: '\\$\\d{1,9}(?:\\.\\d{2})?', replace: '[amount]', maxLength: 13 },
];

/** A small chat completion request body. */
export function chatBody(model: string, stream: boolean): string {
  const request: Record<string, unknown> = {
    model,
    messages: [{ role: 'user', content: 'Say hello to the benchmark.' }],
    max_tokens: 64,
  };
  if (stream) {
    request.stream = true;
    request.stream_options = { include_usage: true };
  }
  return JSON.stringify(request);
}

/** A target with no counters. */
export async function noCounters(): Promise<Record<string, number>> {
  return {};
}
