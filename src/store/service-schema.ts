/**
 * Tables of service routes: services, the rules that let callers reach them,
 * and the per-call records. Kept apart from schema.ts; the repository widens
 * the store's Kysely instance with these through `withTables`.
 */
import type { Generated } from 'kysely';

/** Table `services`: `targets` is JSON `[{ "url": string, "weight": number }]`. */
export interface ServicesTable {
  id: Generated<number>;
  name: string;
  targets: string;
  timeout_ms: number;
  /** 1: calls are forwarded through the secure hop to the configured ingress node. */
  remote: number;
  created_at: number;
}

/** Table `service_rules`: `methods` is a comma list or '*'. */
export interface ServiceRulesTable {
  id: Generated<number>;
  service: string;
  user_id: number;
  path: string;
  methods: string;
  rpm: number | null;
  concurrency: number | null;
  timeout_ms: number | null;
  created_at: number;
}

/** Table `service_calls`: one row per call, written in batches. */
export interface ServiceCallsTable {
  id: Generated<number>;
  ts: number;
  user_id: number;
  service: string;
  rule_id: number | null;
  method: string;
  path: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  latency_ms: number;
}

export type ServiceTables = {
  services: ServicesTable;
  service_rules: ServiceRulesTable;
  service_calls: ServiceCallsTable;
};
