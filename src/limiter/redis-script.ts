// The Lua script behind RedisLimiter: one EVALSHA applies the settlements
// queued since the last call and then judges one admission, atomically.
// The bucket formulas mirror bucket-math.ts (integer GCRA).
//
// Time comes from the server's TIME, not the caller: every gateway instance
// then shares one clock, so a skewed host can neither refill buckets early
// nor expire other nodes' concurrency leases. Redis 7 replicates script
// effects, which makes TIME legal before writes.
//
// Calling convention (n policies, m settlement slots):
//   KEYS  [2i-1] state hash of policy i (fields rl, rt: RPM level and time;
//                tl, tt: TPM level and time), [2i] its lease ZSET;
//         [2n+2j-1], [2n+2j] the same two keys of settlement slot j.
//   ARGV  [1] n  [2] windowMs  [3] tokens  [4] leaseId  [5] leaseTtlMs  [6] m
//         then per policy: rpm, tpm, concurrency (-1 = no such limit)
//         then per slot: leaseId, tpm (-1 = no reservation), deltaTokens, release (1/0)
//         then the credit ledger's part (KEYS and ARGV after the above; see
//         metering/redis-ledger-script.ts, whose blocks are spliced in below)
//         then the spend-budget section (budget-script.ts: its KEYS and ARGV follow all of the above)
// Returns {allowed, refusedIndex (1-based), kind (1 rpm, 2 tpm, 3 concurrency,
//   5 credits, 6 load the balance first), retryMs, rpmLimit, rpmLeft,
//   rpmResetMs, tpmLimit, tpmLeft, tpmResetMs, now, budgetRefusedIndex
//   (1-based, 0 = none), budgetRetryMs, budgetSpent, balance, reserved},
//   or {1} for a settle-only call (n = 0, no budgets and no credit ask).
//
// Numbers are written with %.0f: Lua 5.1's tostring keeps 14 digits only.

import { BUDGET_LUA } from './budget-script.ts';
import { CONCURRENCY_RETRY_MS as CONCURRENCY_RETRY } from './limiter.ts';
import { LEDGER_CHECK_LUA, LEDGER_HOLD_LUA, LEDGER_SETTLE_LUA } from '../metering/redis-ledger-script.ts';

/** Source of the limiter script. */
export const LIMITER_LUA = `
local function drained(level, at, now, limit)
  if level <= 0 then return 0 end
  local elapsed = now - at
  if elapsed <= 0 then return level end
  local left = level - elapsed * limit
  if left > 0 then return left end
  return 0
end
local function retry_after(level, cost, limit, w)
  local over = level + cost * w - limit * w
  if over <= 0 then return 0 end
  if cost > limit or limit <= 0 then return w end
  return math.ceil(over / limit)
end
local function remaining(level, limit, w)
  local free = limit * w - level
  if free > 0 then return math.floor(free / w) end
  return 0
end
local function reset(level, limit)
  if limit > 0 then return math.ceil(level / limit) end
  return 0
end
local function fmt(x) return string.format('%.0f', x) end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local lease_id = ARGV[4]
local lease_ttl = tonumber(ARGV[5])
local m = tonumber(ARGV[6])

-- Settlements first: the capacity they free is visible to this admission.
local a = 6 + 3 * n
local k = 2 * n
for j = 1, m do
  local tpm = tonumber(ARGV[a + 2])
  local delta = tonumber(ARGV[a + 3])
  if ARGV[a + 4] == '1' then redis.call('ZREM', KEYS[k + 2], ARGV[a + 1]) end
  if tpm > 0 and delta ~= 0 then
    local sk = KEYS[k + 1]
    local v = redis.call('HMGET', sk, 'tl', 'tt')
    local at = tonumber(v[2]) or now
    local level = tonumber(v[1]) or 0
    if now > at then level = drained(level, at, now, tpm); at = now end
    level = level + delta * w
    if level < 0 then level = 0 end
    redis.call('HSET', sk, 'tl', fmt(level), 'tt', fmt(at))
    -- A refund only shortens the life the key needs; a charge may lengthen it.
    if delta > 0 then
      local ttl = reset(level, tpm) + 1000
      if redis.call('PTTL', sk) < ttl then redis.call('PEXPIRE', sk, fmt(ttl)) end
    end
  end
  a = a + 4
  k = k + 2
end
${LEDGER_SETTLE_LUA}
${BUDGET_LUA}
if n == 0 and nb == 0 and not c_ask then return {1} end

-- Phase 1: drain and check every policy; nothing is charged yet.
local rl, rt, tl, tt = {}, {}, {}, {}
local refused, kind, retry = 0, 0, 0
for i = 1, n do
  local b = 6 + 3 * (i - 1)
  local rpm = tonumber(ARGV[b + 1])
  local tpm = tonumber(ARGV[b + 2])
  local conc = tonumber(ARGV[b + 3])
  if rpm >= 0 or tpm >= 0 then
    local v = redis.call('HMGET', KEYS[2 * i - 1], 'rl', 'rt', 'tl', 'tt')
    if rpm >= 0 then
      local at = tonumber(v[2]) or now
      local level = tonumber(v[1]) or 0
      if now > at then level = drained(level, at, now, rpm); at = now end
      rl[i] = level; rt[i] = at
      local r = retry_after(level, 1, rpm, w)
      if r > retry then refused = i; kind = 1; retry = r end
    end
    if tpm >= 0 then
      local at = tonumber(v[4]) or now
      local level = tonumber(v[3]) or 0
      if now > at then level = drained(level, at, now, tpm); at = now end
      tl[i] = level; tt[i] = at
      local r = retry_after(level, cost, tpm, w)
      if r > retry then refused = i; kind = 2; retry = r end
    end
  end
  if conc >= 0 then
    local zk = KEYS[2 * i]
    local held = redis.call('ZCARD', zk)
    if held >= conc then
      -- Before refusing, drop the leases of crashed nodes: a lease's score is its deadline.
      redis.call('ZREMRANGEBYSCORE', zk, '-inf', fmt(now))
      held = redis.call('ZCARD', zk)
    end
    if held >= conc and ${CONCURRENCY_RETRY} > retry then
      refused = i; kind = 3; retry = ${CONCURRENCY_RETRY}
    end
  end
end

-- Budgets are judged after the rate limits and win over them (budget-script.ts).
local b_refused, b_retry, b_spent = judge_budgets()
${LEDGER_CHECK_LUA}
-- Phase 2 (only if every policy, budget and the balance agreed): charge them all.
local allowed = 0
if refused == 0 and b_refused == 0 then
  allowed = 1
  charge_budgets()
  for i = 1, n do
    local b = 6 + 3 * (i - 1)
    local rpm = tonumber(ARGV[b + 1])
    local tpm = tonumber(ARGV[b + 2])
    local conc = tonumber(ARGV[b + 3])
    local sk = KEYS[2 * i - 1]
    -- One HSET and one PEXPIRE per key: every field that matters was read above,
    -- so the new TTL (time until both buckets drain) is known exactly.
    if rpm >= 0 and tpm >= 0 then
      rl[i] = rl[i] + w
      tl[i] = tl[i] + cost * w
      redis.call('HSET', sk, 'rl', fmt(rl[i]), 'rt', fmt(rt[i]), 'tl', fmt(tl[i]), 'tt', fmt(tt[i]))
      redis.call('PEXPIRE', sk, fmt(math.max(reset(rl[i], rpm), reset(tl[i], tpm)) + 1000))
    elseif rpm >= 0 then
      rl[i] = rl[i] + w
      redis.call('HSET', sk, 'rl', fmt(rl[i]), 'rt', fmt(rt[i]))
      redis.call('PEXPIRE', sk, fmt(reset(rl[i], rpm) + 1000))
    elseif tpm >= 0 then
      tl[i] = tl[i] + cost * w
      redis.call('HSET', sk, 'tl', fmt(tl[i]), 'tt', fmt(tt[i]))
      redis.call('PEXPIRE', sk, fmt(reset(tl[i], tpm) + 1000))
    end
    if conc >= 0 then
      local zk = KEYS[2 * i]
      redis.call('ZADD', zk, fmt(now + lease_ttl), lease_id)
      redis.call('PEXPIRE', zk, fmt(lease_ttl))
    end
  end
end
${LEDGER_HOLD_LUA}

-- Header state: the tightest (least remaining) RPM and TPM policy.
local r_limit, r_left, r_reset, t_limit, t_left, t_reset = -1, -1, -1, -1, -1, -1
for i = 1, n do
  local b = 6 + 3 * (i - 1)
  local rpm = tonumber(ARGV[b + 1])
  local tpm = tonumber(ARGV[b + 2])
  if rpm >= 0 then
    local left = remaining(rl[i], rpm, w)
    if r_limit < 0 or left < r_left then r_limit = rpm; r_left = left; r_reset = reset(rl[i], rpm) end
  end
  if tpm >= 0 then
    local left = remaining(tl[i], tpm, w)
    if t_limit < 0 or left < t_left then t_limit = tpm; t_left = left; t_reset = reset(tl[i], tpm) end
  end
end
return {allowed, refused, kind, retry, r_limit, r_left, r_reset, t_limit, t_left, t_reset, now, b_refused, b_retry, b_spent, c_bal, c_res}
`;
