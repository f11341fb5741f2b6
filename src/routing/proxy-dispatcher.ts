/**
 * One pooled undici dispatcher per outbound proxy: `ProxyAgent` tunnelling
 * with CONNECT (for http targets too, so the proxy never sees the request),
 * or `Socks5ProxyAgent`. Both keep alive the connections they open, per target
 * origin, like the direct upstream Agent.
 *
 * Two things are added around undici's tunnel set-up, once per new connection:
 * - the SSRF policy on the *target* (upstream-address-policy.ts): its host is
 *   checked by name and, for a name, by this node's DNS answers, before the
 *   tunnel is asked for. The proxy resolves the name again on its side, so a
 *   name that changes its answer in between is not caught (the direct path,
 *   which dials the checked answer, is); the proxy's own address is the
 *   operator's choice and is not checked.
 * - blame: a failure to reach or use the proxy (refused, reset, timed out,
 *   credentials refused) becomes a FailureError blaming the proxy, so the relay
 *   cools the proxy, not the channel, and tries another proxy; a proxy that
 *   reports the target unreachable (CONNECT 502/503/504, SOCKS5 network/host
 *   unreachable, refused, TTL expired) blames the channel like a direct connect
 *   error. Messages name the proxy and an error code, never its URL or
 *   credentials.
 */
import { isIP } from 'node:net';
import { Pool, ProxyAgent, Socks5ProxyAgent, type Dispatcher, type buildConnector } from 'undici';
import { Errors } from '../errors.ts';
import { failureError, type Blame } from '../upstream/failure.ts';
import { checkUpstreamHost, type AddressPolicy } from './upstream-address-policy.ts';
import { guardedLookup, UpstreamAddressRefused, type Resolver } from './upstream-connector.ts';

/** What a dispatcher needs to know about its proxy. */
export interface ProxyEndpoint {
  readonly name: string;
  /** `http://`, `https://` or `socks5://host:port`, without credentials. */
  readonly url: string;
  readonly username: string | null;
  readonly password: string | null;
}

export interface ProxyDispatcherOptions {
  policy: AddressPolicy;
  connectTimeoutMs: number;
  connections: number;
  /** `host:port` targets exempt from the policy (the built-in mock). */
  exempt?: readonly string[];
  resolve?: Resolver;
}

/** Connection-level codes that can only come from the hop to the proxy (the proxy dials the target). */
const PROXY_HOP_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_PRX_TLS', 'UND_ERR_CLOSED']);
const TARGET_STATUSES = new Set(['502', '503', '504']);
/** SOCKS5 replies about the target: network/host unreachable, connection refused, TTL expired. */
const TARGET_SOCKS_REPLIES = new Set(['UND_ERR_SOCKS5_REPLY_3', 'UND_ERR_SOCKS5_REPLY_4', 'UND_ERR_SOCKS5_REPLY_5', 'UND_ERR_SOCKS5_REPLY_6']);
const AUTH_CODES = new Set(['UND_ERR_SOCKS5_AUTH_FAILED', 'UND_ERR_SOCKS5_AUTH_REJECTED']);

/** The failure a tunnel error stands for (see the file comment). Exported for tests. */
export function classifyTunnelError(proxy: string, target: string, err: unknown): Error {
  if (err instanceof UpstreamAddressRefused) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const status = /^Proxy response \((\d{3})\)/.exec((err as Error).message ?? '')?.[1] ?? '';
  const fail = (errorClass: string, blame: Blame, message: string) =>
    failureError({ error: Errors.upstreamError, status: 502, message, errorClass, blame });
  if (status === '407' || AUTH_CODES.has(code)) return fail('proxy_auth', 'proxy', `Outbound proxy '${proxy}' refused its credentials (${status === '' ? code : `status ${status}`}).`);
  if (TARGET_STATUSES.has(status) || TARGET_SOCKS_REPLIES.has(code)) return fail('proxy_target_unreachable', 'channel', `Outbound proxy '${proxy}' could not reach ${target} (${status === '' ? code : `status ${status}`}).`);
  if (status !== '') return fail('proxy_refused', 'proxy', `Outbound proxy '${proxy}' refused the tunnel to ${target} (status ${status}).`);
  if (PROXY_HOP_CODES.has(code) || code.startsWith('UND_ERR_SOCKS5')) return fail('proxy_unreachable', 'proxy', `Outbound proxy '${proxy}' failed: ${code}.`);
  return err as Error; // TLS with the target through the tunnel, and the like: the channel's, as when direct
}

/** Throws (as a refused connect) when the policy refuses the target; resolves the name with the guarded lookup. */
function checkTarget(hostname: string, port: number, opts: ProxyDispatcherOptions): Promise<void> {
  if (opts.exempt?.includes(`${hostname}:${port}`)) return Promise.resolve();
  const verdict = checkUpstreamHost(hostname, opts.policy);
  if (!verdict.ok) return Promise.reject(new UpstreamAddressRefused(hostname, verdict));
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0) return Promise.resolve();
  const lookup = guardedLookup(opts.policy, opts.resolve);
  return new Promise((resolve, reject) => lookup(hostname, { all: true }, (err) => (err ? reject(err) : resolve())));
}

const defaultPort = (protocol: string) => (protocol === 'https:' ? 443 : 80);

/** Undici's SOCKS5 agent with the target check before, and blame after, each tunnel. */
class CheckedSocks5Agent extends Socks5ProxyAgent {
  readonly #proxy: string;
  readonly #opts: ProxyDispatcherOptions;

  constructor(endpoint: ProxyEndpoint, opts: ProxyDispatcherOptions) {
    // Its per-origin pools take undici's defaults (keep-alive, no connection cap): the agent passes them no pool options.
    super(endpoint.url, { username: endpoint.username ?? undefined, password: endpoint.password ?? undefined, connectTimeout: opts.connectTimeoutMs });
    this.#proxy = endpoint.name;
    this.#opts = opts;
  }

  async createSocks5Connection(targetHost: string, targetPort: number): Promise<unknown> {
    await checkTarget(targetHost, targetPort, this.#opts);
    try {
      // Not in undici's type declarations: the method its per-origin pools call for each new tunnel.
      return await (Socks5ProxyAgent.prototype as unknown as { createSocks5Connection(h: string, p: number): Promise<unknown> }).createSocks5Connection.call(this, targetHost, targetPort);
    } catch (err) {
      throw classifyTunnelError(this.#proxy, `${targetHost}:${targetPort}`, err);
    }
  }
}

/** The tunnel connector of ProxyAgent's per-origin pool, with the target check before and blame after. */
function checkedTunnel(proxy: string, tunnel: buildConnector.connector, opts: ProxyDispatcherOptions): buildConnector.connector {
  return (options, callback) => {
    const port = Number(options.port) || defaultPort(options.protocol);
    const target = `${options.hostname}:${port}`;
    checkTarget(options.hostname, port, opts).then(
      () => tunnel(options, (err, socket) => (err === null ? callback(null, socket!) : callback(classifyTunnelError(proxy, target, err), null))),
      (err: Error) => callback(classifyTunnelError(proxy, target, err), null),
    );
  };
}

/** A new dispatcher for one proxy; the caller keeps it for the proxy's lifetime and closes it. */
export function proxyDispatcher(endpoint: ProxyEndpoint, opts: ProxyDispatcherOptions): Dispatcher {
  if (endpoint.url.startsWith('socks5:')) return new CheckedSocks5Agent(endpoint, opts);
  const token = endpoint.username === null ? undefined : `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password ?? ''}`).toString('base64')}`;
  return new ProxyAgent({
    uri: endpoint.url,
    token,
    proxyTunnel: true,
    connectTimeout: opts.connectTimeoutMs,
    connections: opts.connections,
    keepAliveTimeout: 30_000,
    pipelining: 1,
    // undici hands its tunnel connector to the per-origin pool it builds here.
    factory: (origin, options) => {
      const o = options as Pool.Options & { connect: buildConnector.connector };
      return new Pool(origin, { ...o, connect: checkedTunnel(endpoint.name, o.connect, opts) });
    },
  });
}
