// The spend-budget part of the limiter script (redis-script.ts splices it in
// after its own settlements; budget.ts explains budgets). It mirrors
// budget-tally.ts: a calendar budget is one counter per period (its key
// names the period's start, so a new period starts from a fresh key), a
// rolling budget is one hash of slot counters (field = slot number).
//
// Calling convention, after the limiter's own KEYS and ARGV (n policies, m
// rate settlement slots; nb budgets, mb budget settlements):
//   KEYS  [bk + i]       counter of budget i (string: calendar, hash: rolling)
//         [bk + nb + j]  counter of budget settlement j
//   ARGV  [ba + 1] nb  [ba + 2] mb  [ba + 3] micros to reserve
//         then per budget: limitMicros, slotMs (0 = calendar), calendar: period end ms / rolling: slot count
//         then per settlement: field ('' = calendar), deltaMicros
//   with bk and ba the KEYS and ARGV positions where the credit ledger's part
//   ended (the limiter script's running `k` and `a`). The section comes last:
//   a call without budgets or budget settlements leaves it out.
// Defines judge_budgets() -> refusedIndex (0 = none), retryMs, spent
// and charge_budgets(), called by the limiter's phase 1 and phase 2.
// Calendar periods come from the caller's clock (Lua has no time zones);
// rolling slots and retry times use the script's `now` (server TIME).

/** Lua source; expects `n`, `m`, `k`, `a`, `now` and `fmt` of the limiter script in scope. */
export const BUDGET_LUA = `
-- >>> spend budgets (src/limiter/budget-script.ts)
-- The section starts where the ledger's part ended (the running KEYS/ARGV positions k and a).
local bk = k
local ba = a
local nb = tonumber(ARGV[ba + 1]) or 0
local mb = tonumber(ARGV[ba + 2]) or 0
local b_cost = tonumber(ARGV[ba + 3]) or 0
-- Settlements: the real cost replaces the reservation in the period charged,
-- if that period is still counted (an expired key or a rolled-out slot is gone).
do
  local sa = ba + 3 + 3 * nb
  for j = 1, mb do
    local key = KEYS[bk + nb + j]
    local field = ARGV[sa + 2 * j - 1]
    local delta = ARGV[sa + 2 * j]
    if field == '' then
      if redis.call('EXISTS', key) == 1 and redis.call('INCRBY', key, delta) < 0 then redis.call('SET', key, '0', 'KEEPTTL') end
    elseif redis.call('HEXISTS', key, field) == 1 and redis.call('HINCRBY', key, field, delta) < 0 then
      redis.call('HSET', key, field, '0')
    end
  end
end
local function judge_budgets()
  for i = 1, nb do
    local key = KEYS[bk + i]
    local b = ba + 3 + 3 * (i - 1)
    local limit = tonumber(ARGV[b + 1])
    local slot_ms = tonumber(ARGV[b + 2])
    local extra = tonumber(ARGV[b + 3])
    if slot_ms == 0 then
      local spent = tonumber(redis.call('GET', key)) or 0
      if spent + b_cost > limit then return i, math.max(extra - now, 0), spent end
    else
      local oldest = math.floor(now / slot_ms) - extra + 1
      local flat = redis.call('HGETALL', key)
      local slots, amounts, spent = {}, {}, 0
      for f = 1, #flat, 2 do
        local s = tonumber(flat[f])
        if s < oldest then
          redis.call('HDEL', key, flat[f])
        else
          local v = tonumber(flat[f + 1])
          spent = spent + v
          slots[#slots + 1] = s
          amounts[s] = v
        end
      end
      if spent + b_cost > limit then
        if b_cost > limit then return i, slot_ms * extra, spent end
        -- The oldest slots roll out first: when has enough of them gone?
        table.sort(slots)
        local freed = 0
        for _, s in ipairs(slots) do
          freed = freed + amounts[s]
          if spent - freed + b_cost <= limit then return i, (s + extra) * slot_ms - now, spent end
        end
      end
    end
  end
  return 0, 0, 0
end
local function charge_budgets()
  if b_cost <= 0 then return end
  for i = 1, nb do
    local key = KEYS[bk + i]
    local b = ba + 3 + 3 * (i - 1)
    local slot_ms = tonumber(ARGV[b + 2])
    local extra = tonumber(ARGV[b + 3])
    if slot_ms == 0 then
      redis.call('INCRBY', key, fmt(b_cost))
      -- Kept a minute past the period for settlements still in flight.
      redis.call('PEXPIRE', key, fmt(math.max(extra - now, 0) + 60000))
    else
      redis.call('HINCRBY', key, fmt(math.floor(now / slot_ms)), fmt(b_cost))
      redis.call('PEXPIRE', key, fmt(slot_ms * (extra + 1)))
    end
  end
end
-- <<< spend budgets
`;
