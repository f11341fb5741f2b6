// The credit ledger's Lua, in two parts:
//
// 1. Blocks spliced into the limiter script (limiter/redis-script.ts), so that
//    ONE EVALSHA settles queued credit holds, checks the limits and the
//    balance, and takes the hold. They use the limiter script's locals
//    (`now`, `a`, `k`, `n`, `refused`, `kind`, `allowed`, `fmt`, and the
//    budgets' `b_refused`).
// 2. LEDGER_SYNC_LUA, a script of its own for what happens once per writer
//    commit or per rebuild, never per request: commit notices, admin credits,
//    and loading a balance from the store.
//
// Keys of user u (all under the limiter's hash tag, so one script may touch
// them together with the limit keys):
//   B = <base>b:<u>  hash  bal (the STORED balance: usage debits arrive with
//                          their commit), res (sum of holds), seq (debit_seq the
//                          load read), ev (change-feed id the load read)
//   H = <base>h:<u>  hash  hold id (request record id) → "<micros>:<deadline ms>"
//   D = <base>d:<u>  zset  changes applied since the load ("s<debit_seq>",
//                          "e<feed id>"), scored by time; trimmed after the replay window
//   P = <base>p:<u>  hash  changes that arrived while B was missing (parked for the next load)
//
//   available(u) = bal − res + overdraft
//
// A hold lives from admission until its record is committed: at settlement it
// shrinks (or grows) to the real cost, and the commit notice removes it while
// the same cost arrives in bal. So a cost is counted once at every moment: in
// res before its commit reaches Redis, in bal after.
//
// Calling convention of the spliced part (after the limiter's own KEYS/ARGV):
//   KEYS  B, H of the asking user (only when ask = 1); then B, H per settlement slot.
//   ARGV  ask (1/0), micros, holdId, holdTtlMs, overdraft, c (settlement slots),
//         then per slot: holdId, cost.
// Reply fields 15 and 16: bal and res of the asking user (for the 402 text);
// the check runs only when no limit and no spend budget refused (`b_refused`).
// Refusal kind 5 = credits; kind 6 = B is missing, load it and ask again
// (nothing was charged).

/** Credit settlements: after the limiter's, before any judgment. */
export const LEDGER_SETTLE_LUA = `
-- ==== credit ledger: settlements (metering/redis-ledger-script.ts) ====
local c_ask = ARGV[a + 1] == '1'
local c_micros = tonumber(ARGV[a + 2])
local c_hold = ARGV[a + 3]
local c_ttl = tonumber(ARGV[a + 4])
local c_over = tonumber(ARGV[a + 5])
local c_m = tonumber(ARGV[a + 6])
local c_bk, c_hk = nil, nil
if c_ask then c_bk = KEYS[k + 1]; c_hk = KEYS[k + 2]; k = k + 2 end
a = a + 6
for j = 1, c_m do
  local bk, hk, id, cost = KEYS[k + 1], KEYS[k + 2], ARGV[a + 1], tonumber(ARGV[a + 2])
  local v = redis.call('HGET', hk, id)
  -- No hold: settled before (a replay), or lost with its balance; then the commit brings the cost.
  if v and redis.call('EXISTS', bk) == 1 then
    local held = tonumber(string.match(v, '^(%d+)'))
    if cost > 0 then
      redis.call('HSET', hk, id, fmt(cost) .. ':' .. fmt(now + c_ttl))
    else
      redis.call('HDEL', hk, id)
    end
    if cost ~= held then redis.call('HINCRBY', bk, 'res', fmt(cost - held)) end
  end
  k = k + 2
  a = a + 2
end
-- ==== end credit ledger ====
`;

/** The balance check: after every limit agreed, before anything is charged. */
export const LEDGER_CHECK_LUA = `
-- ==== credit ledger: check (metering/redis-ledger-script.ts) ====
local c_bal, c_res = -1, -1
if c_ask and refused == 0 and b_refused == 0 then
  local v = redis.call('HMGET', c_bk, 'bal', 'res')
  if not v[1] then return {0, 0, 6, 0, -1, -1, -1, -1, -1, -1, now, 0, 0, 0, -1, -1} end
  c_bal = tonumber(v[1])
  c_res = tonumber(v[2]) or 0
  if c_bal - c_res + c_over < c_micros then
    -- Before refusing, drop holds past their deadline (a node that died before settling).
    local all = redis.call('HGETALL', c_hk)
    local freed = 0
    for i = 1, #all, 2 do
      local held, deadline = string.match(all[i + 1], '^(%d+):(%d+)$')
      if tonumber(deadline) < now then
        redis.call('HDEL', c_hk, all[i])
        freed = freed + tonumber(held)
      end
    end
    if freed > 0 then
      c_res = c_res - freed
      redis.call('HINCRBY', c_bk, 'res', fmt(-freed))
    end
    if c_bal - c_res + c_over < c_micros then refused = n + 1; kind = 5 end
  end
end
-- ==== end credit ledger ====
`;

/** Taking the hold, once the limits were charged. */
export const LEDGER_HOLD_LUA = `
-- ==== credit ledger: hold (metering/redis-ledger-script.ts) ====
if c_ask and allowed == 1 then
  redis.call('HINCRBY', c_bk, 'res', fmt(c_micros))
  redis.call('HSET', c_hk, c_hold, fmt(c_micros) .. ':' .. fmt(now + c_ttl))
  c_res = c_res + c_micros
end
-- ==== end credit ledger ====
`;

/**
 * Loads, commit notices and admin credits, several per call.
 *
 *   KEYS  B, H, D, P per operation.
 *   ARGV  [1] replay window in ms, then four per operation:
 *         'L', balance, debit_seq, feed id      load (only if B is missing)
 *         'C', debit_seq, delta, hold ids (",") a writer commit (debit_seq 0: no debit)
 *         'E', feed id, delta, ''               an admin credit from the change feed
 *   Returns one number per operation: 1 applied (or loaded), 0 not.
 *
 * Exactly once: a debit is in bal iff debit_seq ≤ B.seq (it was in the read
 * of the load) or "s<debit_seq>" is in D (applied since). The same for feed
 * ids with B.ev and "e<id>". A change arriving while B is missing is parked
 * in P and applied by the next load if its read did not contain it: the load
 * may have read the store before that commit and run after its notice.
 */
export const LEDGER_SYNC_LUA = `
local function fmt(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = tonumber(ARGV[1])
local out = {}
local ops = (#ARGV - 1) / 4
for i = 0, ops - 1 do
  local a = 1 + 4 * i
  local op, x, y, z = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local bk, hk, dk, pk = KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4]
  local done = 0
  if op == 'L' then
    if redis.call('EXISTS', bk) == 0 then
      local bal, seq, ev = tonumber(x), tonumber(y), tonumber(z)
      -- Holds and markers of a lost balance belong to it: they are not in this read.
      redis.call('DEL', hk, dk)
      local parked = redis.call('HGETALL', pk)
      for j = 1, #parked, 2 do
        local f = parked[j]
        local id = tonumber(string.sub(f, 2))
        local base = string.sub(f, 1, 1) == 's' and seq or ev
        if id > base then
          bal = bal + tonumber(parked[j + 1])
          redis.call('ZADD', dk, now, f)
        end
      end
      redis.call('DEL', pk)
      redis.call('HSET', bk, 'bal', fmt(bal), 'res', '0', 'seq', fmt(seq), 'ev', fmt(ev))
      done = 1
    end
  else
    local exists = redis.call('EXISTS', bk) == 1
    if op == 'C' and z ~= '' then
      for id in string.gmatch(z, '[^,]+') do
        local v = redis.call('HGET', hk, id)
        if v then
          redis.call('HDEL', hk, id)
          if exists then redis.call('HINCRBY', bk, 'res', fmt(-tonumber(string.match(v, '^(%d+)')))) end
        end
      end
    end
    local id = tonumber(x)
    if id > 0 then
      local marker = (op == 'C' and 's' or 'e') .. x
      if not exists then
        redis.call('HSET', pk, marker, y)
        redis.call('PEXPIRE', pk, 86400000)
      elseif id > tonumber(redis.call('HGET', bk, op == 'C' and 'seq' or 'ev')) and redis.call('ZADD', dk, 'NX', now, marker) == 1 then
        redis.call('HINCRBY', bk, 'bal', y)
        redis.call('ZREMRANGEBYSCORE', dk, '-inf', fmt(now - keep))
        done = 1
      end
    end
  end
  out[i + 1] = done
end
return out
`;
