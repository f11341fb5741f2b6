/** What a stopped server left in its store: the usage records and the first user's balance. */
import { openStore } from '../../src/store/store.ts';

export async function storedUsage(dataDir: string) {
  const store = await openStore({ dataDir });
  try {
    const page = await store.usage.page({ limit: 1000 });
    const user = (await store.users.list())[0];
    return { rows: page.records, balance: user.balanceMicros };
  } finally {
    await store.close();
  }
}
