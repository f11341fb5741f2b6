/**
 * What the stages of a service call share, built once by service-node.ts
 * (the router holds them; the stages take this interface, not the router).
 */
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { CallWriter } from './call-writer.ts';
import type { EgressLink, IngressLink } from './hop/hop-links.ts';
import type { ServiceMetrics } from './service-metrics.ts';
import type { ServiceTable } from './service-table.ts';

export interface ServiceParts {
  gw: Gateway;
  table: ServiceTable;
  /** Pool for service targets and the ingress node; separate from the LLM upstream pool. */
  agent: Agent;
  writer: CallWriter;
  metrics: ServiceMetrics | null;
  hop: Config['services']['hop'];
  egress: EgressLink | null;
  ingress: IngressLink | null;
  logger: Logger;
}
