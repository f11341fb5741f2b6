/**
 * PostgreSQL for the Tollgate PostgreSQL-mode target: the server named by
 * BENCH_DATABASE_URL / DATABASE_URL (default the local test database), with a
 * schema of its own that is dropped when the bench ends.
 */
import pg from 'pg';

/** A database URL and schema the bench may use. */
export interface PostgresBackend {
  url: string;
  schema: string;
  close(): Promise<void>;
}

/** Checks the server answers and picks a fresh schema; resolves to a note string when it does not. */
export async function preparePostgres(): Promise<PostgresBackend | string> {
  const url = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `tollgate_bench_${process.pid}_${Date.now().toString(36)}`;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } catch (error) {
    await client.end().catch(() => {});
    return `no PostgreSQL: ${url.replace(/:[^:@/]*@/, ':***@')} does not answer (${(error as Error).message})`;
  }
  return {
    url,
    schema,
    async close() {
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}
