/**
 * Names instead of ids in what the operator commands print: users by name,
 * keys by name and prefix, limit subjects in those terms. One listing of
 * users and keys per command (operator commands are not a hot path).
 */
import type { LimitRowScope } from '../store/store.ts';
import type { AdminStore } from './remote-store.ts';

/** Labels of the users and keys of one store. An id no longer there shows as `#id`. */
export interface Names {
  user(id: number): string;
  /** `name (prefix)`, e.g. `default (tg-AbCd)`. */
  key(id: number): string;
  /** A limit subject: '' → '', user id → user name, key id → key label, `<userId>:<model>` → `<user name>:<model>`. */
  subject(scope: LimitRowScope, subject: string): string;
}

export async function loadNames(s: AdminStore): Promise<Names> {
  const users = new Map((await s.users.list()).map((u) => [u.id, u.name]));
  const keys = new Map((await s.keys.list()).map((k) => [k.id, `${k.name} (${k.prefix})`]));
  const user = (id: number) => users.get(id) ?? `#${id}`;
  const key = (id: number) => keys.get(id) ?? `#${id}`;
  return {
    user,
    key,
    subject(scope, subject) {
      if (scope === 'user') return user(Number(subject));
      if (scope === 'key') return key(Number(subject));
      if (scope !== 'user_model') return subject;
      const colon = subject.indexOf(':');
      return `${user(Number(subject.slice(0, colon)))}:${subject.slice(colon + 1)}`;
    },
  };
}
