"""The admission controller's Redis scripts (anchors §B3), one EVALSHA per operation.

Every script reads the clock with Redis ``TIME`` so all processes share one clock, and touches only
keys under one hash tag (``{ns}:…``), so a Redis Cluster keeps them on one slot. Times are integer
milliseconds. Key order is fixed by ``KEYS`` in :mod:`apps.moonshot.admission.controller`:

1 sem    ZSET holder -> lease expiry (concurrency leases; expired ones are reaped on acquire)
2 log    ZSET id -> admission time (exact sliding-window log: RPM, and TPM with 3 and 4)
3 cost   HASH id -> tokens charged at admission
4 tpm    STRING running sum of ``cost`` over the log
5 tpd    HASH day -> tokens admitted that day; ``x:<day>`` marks a day the provider closed
6 cool   STRING cooldown-until time, set after a provider 429
7 chatq  ZSET interactive waiter -> first-queued time (FIFO)
8 bgq    ZSET background waiter -> first-queued time (FIFO)
9 wexp   ZSET waiter -> expiry, so a killed waiter stops blocking others
10 stats HASH daily counters: ``w:<day>`` waits, ``r:<day>:<dimension>`` provider 429s, kept for
   ``HISTORY_DAYS`` days so the admin dashboard can chart them (pruned when a day's first counter
   of a kind appears, so the sweep runs a few times a day, never per request)
11 streak HASH the run of provider 429s: ``n`` consecutive cooldowns, ``at`` when it began;
   expires a window after the last cooldown ends, and a call admitted after ``at`` that succeeds
   deletes it
"""

from __future__ import annotations

HISTORY_DAYS = 31

_PRELUDE = (
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local DAY = 86400000
local function day_of(offset) return tostring(math.floor((now + offset) / DAY)) end
local function day_left(offset) return DAY - ((now + offset) % DAY) end
local function prune(key, keep)
  if redis.call('HLEN', key) <= 8 then return end
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if not string.find(f, keep, 1, true) then redis.call('HDEL', key, f) end
  end
end
"""
    + f"local HISTORY_DAYS = {HISTORY_DAYS}\n"
    + """
local function prune_history(key, today)
  local oldest = tonumber(today) - HISTORY_DAYS + 1
  for _, f in ipairs(redis.call('HKEYS', key)) do
    local d = tonumber(string.match(f, '^%a:(%d+)'))
    if d == nil or d < oldest then redis.call('HDEL', key, f) end
  end
end
-- Count one event in a daily history hash; the sweep runs when a day's counter is created.
local function count_day(key, field, today)
  if redis.call('HINCRBY', key, field, 1) == 1 then prune_history(key, today) end
  redis.call('PEXPIRE', key, (HISTORY_DAYS + 1) * DAY)
end
"""
)

# Reap expired leases, waiters and log entries, then admit, refuse or queue the caller.
# ARGV: id, cost, background(0/1), lease_ms, window_ms, concurrency, rpm, tpm, tpd (0 = none),
#       day_offset_ms, waiter_ttl_ms, reserve_for_chat, channel
# Returns {status, sleep_ms, reason, position, eta_ms}: status 1 admitted, 0 wait, -1 refused
# (for "tpd" sleep_ms is the time until the day resets); eta_ms -1 means unknown.
ACQUIRE = (
    _PRELUDE
    + """
local id, cost, bg = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local lease, win = tonumber(ARGV[4]), tonumber(ARGV[5])
local conc, rpm = tonumber(ARGV[6]), tonumber(ARGV[7])
local tpm, tpd = tonumber(ARGV[8]), tonumber(ARGV[9])
local offset, ttl = tonumber(ARGV[10]), tonumber(ARGV[11])

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', now)
for _, w in ipairs(gone) do
  redis.call('ZREM', KEYS[7], w); redis.call('ZREM', KEYS[8], w)
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now) end

local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - win)
if #old > 0 then
  local freed = 0
  for i = 1, #old, 500 do
    local chunk = {unpack(old, i, math.min(i + 499, #old))}
    for _, c in ipairs(redis.call('HMGET', KEYS[3], unpack(chunk))) do
      freed = freed + (tonumber(c) or 0)
    end
    redis.call('HDEL', KEYS[3], unpack(chunk))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - win)
  redis.call('DECRBY', KEYS[4], freed)
end
local n = redis.call('ZCARD', KEYS[2])
local used = 0
if n == 0 then redis.call('DEL', KEYS[3], KEYS[4])
else used = tonumber(redis.call('GET', KEYS[4]) or '0') end

local function leave()
  local q = redis.call('ZREM', KEYS[7], id) + redis.call('ZREM', KEYS[8], id)
  redis.call('ZREM', KEYS[9], id)
  return q
end

local day = day_of(offset)
if tpm > 0 and cost > tpm then leave(); return {-1, 0, 'tpm', 0, -1} end
if tpd > 0 and cost > tpd then leave(); return {-1, 0, 'tpd_size', 0, -1} end
local spent = tonumber(redis.call('HGET', KEYS[5], day) or '0')
if redis.call('HEXISTS', KEYS[5], 'x:' .. day) == 1 or (tpd > 0 and spent + cost > tpd) then
  leave(); return {-1, day_left(offset), 'tpd', 0, -1}
end

local reason, hint = false, 0
local cool = tonumber(redis.call('GET', KEYS[6]) or '0')
if cool > now then reason, hint = 'cooldown', cool - now end
local chat_n = redis.call('ZCARD', KEYS[7])
if bg and chat_n > 0 and not reason then reason = 'priority' end
local climit = conc
if bg then climit = math.max(1, conc - tonumber(ARGV[12])) end
if not reason and redis.call('ZCARD', KEYS[1]) >= climit then
  local e = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  reason, hint = 'concurrency', tonumber(e[2]) - now
end
if not reason and n + 1 > rpm then
  local o = redis.call('ZRANGE', KEYS[2], n - rpm, n - rpm, 'WITHSCORES')
  reason, hint = 'rpm', tonumber(o[2]) + win - now
end
if not reason and tpm > 0 and used + cost > tpm then
  reason = 'tpm'
  local need, freed = used + cost - tpm, 0
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    freed = freed + (tonumber(redis.call('HGET', KEYS[3], entries[i])) or 0)
    if freed >= need then hint = tonumber(entries[i + 1]) + win - now; break end
  end
end
local q = KEYS[7]
if bg then q = KEYS[8] end
if not reason then
  local head = redis.call('ZRANGE', q, 0, 0)
  if head[1] and head[1] ~= id then reason = 'queue' end
end

if not reason then
  redis.call('ZADD', KEYS[1], now + lease, id)
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('HSET', KEYS[3], id, cost)
  redis.call('INCRBY', KEYS[4], cost)
  for k = 2, 4 do redis.call('PEXPIRE', KEYS[k], win + 1000) end
  redis.call('HINCRBY', KEYS[5], day, cost)
  prune(KEYS[5], day)
  redis.call('PEXPIRE', KEYS[5], 2 * DAY)
  if leave() > 0 and redis.call('ZCARD', KEYS[7]) + redis.call('ZCARD', KEYS[8]) > 0 then
    redis.call('PUBLISH', ARGV[13], 'next')
  end
  return {1, 0, 'ok', 0, now}
end

if redis.call('ZADD', q, 'NX', now, id) == 1 then
  count_day(KEYS[10], 'w:' .. day, day)
end
redis.call('ZADD', KEYS[9], now + ttl, id)
local pos = redis.call('ZRANK', q, id) + 1
if bg then pos = pos + chat_n end

-- Estimate when this position is admitted if the request log is the bottleneck: replay the last
-- `rpm` admissions plus one future admission per caller ahead.
local eta = -1
if reason ~= 'concurrency' and reason ~= 'priority' and pos <= 1000 then
  local first = math.max(cool, now)
  local l = {}
  local tail = redis.call('ZRANGE', KEYS[2], math.max(n - rpm, 0), -1, 'WITHSCORES')
  for i = 2, #tail, 2 do l[#l + 1] = tonumber(tail[i]) end
  local at = first
  for _ = 1, pos do
    at = first
    local k = #l - rpm + 1
    if k >= 1 then at = math.max(at, l[k] + win) end
    l[#l + 1] = at
  end
  eta = at - now
  if pos == 1 then eta = math.max(eta, hint) end
end
-- The head sleeps until its limit frees; others until their estimate. Callers stuck behind the
-- head ('queue') or behind chat ('priority') sleep until a PUBLISH wakes them (-1: capped sleep).
local sleep = hint
if pos > 1 then sleep = eta end
if reason == 'queue' or reason == 'priority' then sleep = -1 end
return {0, sleep, reason, pos, eta}
"""
)

# Give up a slot or a place in the queue. KEYS: sem, chatq, bgq, wexp, streak.
# ARGV: id, channel, admitted_ms (0 unless the call succeeded). Wakes waiters (one PUBLISH) only
# when someone is waiting. A success admitted after a run of 429s began ends the run. Returns 1
# when a lease was held.
RELEASE = """
local held = redis.call('ZREM', KEYS[1], ARGV[1])
local queued = redis.call('ZREM', KEYS[2], ARGV[1]) + redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if held + queued > 0 and redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3]) > 0 then
  redis.call('PUBLISH', ARGV[2], 'free')
end
local ok = tonumber(ARGV[3] or '0')
if ok > 0 then
  local began = tonumber(redis.call('HGET', KEYS[5], 'at') or '-1')
  if began >= 0 and ok > began then redis.call('DEL', KEYS[5]) end
end
return held
"""

# Extend leases still held. KEYS: sem. ARGV: lease_ms, concurrency, id...
# Per id: 1 renewed; 2 had been reaped and was re-taken (a slot was free); 0 lost.
RENEW = (
    _PRELUDE
    + """
local out = {}
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]); out[#out + 1] = 1
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]); out[#out + 1] = 2
    else out[#out + 1] = 0 end
  end
end
return out
"""
)

# After a provider 429: every process waits. KEYS: cool, tpd, streak.
# ARGV: seconds_ms (what the provider asked for), min_ms, max_ms, reason, window_ms,
# day_offset_ms. The pause is what the provider asked (at least min_ms), doubled for each earlier
# 429 of the same run, capped at max_ms (or the provider's own figure if larger). A 429 that
# arrives while a cooldown is still running belongs to the same episode (calls admitted before it)
# and does not escalate. For tpd the day is closed. Returns the cooldown-until time in ms.
COOLDOWN = (
    _PRELUDE
    + """
local asked = math.max(tonumber(ARGV[1]), tonumber(ARGV[2]))
local cap, reason = math.max(tonumber(ARGV[3]), asked), ARGV[4]
local win, offset = tonumber(ARGV[5]), tonumber(ARGV[6])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(redis.call('HGET', KEYS[3], 'n') or '0')
if n == 0 then
  n = 1; redis.call('HSET', KEYS[3], 'n', 1, 'at', now)
elseif cur <= now then
  n = n + 1; redis.call('HSET', KEYS[3], 'n', n)
end
local untl = now + math.min(asked * 2 ^ (n - 1), cap)
if reason == 'tpd' then
  redis.call('HSET', KEYS[2], 'x:' .. day_of(offset), 1)
  redis.call('PEXPIRE', KEYS[2], 2 * DAY)
end
if untl > cur then
  redis.call('SET', KEYS[1], untl, 'PX', math.max(1, untl - now))
else untl = cur end
redis.call('PEXPIRE', KEYS[3], math.max(1, untl - now) + win)
return untl
"""
)

# Count a provider 429 for today. KEYS: stats. ARGV: dimension, day_offset_ms.
RECORD_429 = (
    _PRELUDE
    + """
local day = day_of(tonumber(ARGV[2]))
count_day(KEYS[1], 'r:' .. day .. ':' .. ARGV[1], day)
return 1
"""
)

# A read-only snapshot for the admin dashboard. KEYS: as ACQUIRE. ARGV: window_ms, day_offset_ms.
# Returns {now, holders, rpm_used, tpm_used, tpd_used, tpd_closed, cooldown_until, waiting_chat,
#          waiting_background, waits_today, {dimension, count, ...}}.
STATS = (
    _PRELUDE
    + """
local win, offset = tonumber(ARGV[1]), tonumber(ARGV[2])
local day = day_of(offset)
local holders = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. (now - win), '+inf')
local tokens = 0
for i = 1, #live, 500 do
  local chunk = {unpack(live, i, math.min(i + 499, #live))}
  for _, c in ipairs(redis.call('HMGET', KEYS[3], unpack(chunk))) do
    tokens = tokens + (tonumber(c) or 0)
  end
end
local function waiting(q)
  local count = 0
  for _, w in ipairs(redis.call('ZRANGE', q, 0, -1)) do
    local e = redis.call('ZSCORE', KEYS[9], w)
    if e and tonumber(e) > now then count = count + 1 end
  end
  return count
end
local cool = tonumber(redis.call('GET', KEYS[6]) or '0')
if cool <= now then cool = 0 end
local limited = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[10])) do
  local prefix = 'r:' .. day .. ':'
  if string.sub(f, 1, #prefix) == prefix then
    limited[#limited + 1] = string.sub(f, #prefix + 1)
    limited[#limited + 1] = redis.call('HGET', KEYS[10], f)
  end
end
return {now, holders, #live, tokens, tonumber(redis.call('HGET', KEYS[5], day) or '0'),
  redis.call('HEXISTS', KEYS[5], 'x:' .. day), cool, waiting(KEYS[7]), waiting(KEYS[8]),
  tonumber(redis.call('HGET', KEYS[10], 'w:' .. day) or '0'), limited}
"""
)
