-- A terminal state recorded by another replica than the owner (a cancel the owner did not carry out,
-- or a lapsed owner): the status object is rewritten here, the terminal event appended after the
-- last one. Returns the terminal status object, the one already recorded if there was one, or
-- nothing for an unknown stream.
-- KEYS: hash, events, owned. ARGV: status, finish reason, ended at, error JSON or '', retention (ms),
-- max events, event type, stream id, channel.
local json = redis.call('HGET', KEYS[1], 'view')
if not json then return false end
if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return json end
local view = cjson.decode(json)
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local tokens = redis.call('HGET', KEYS[1], 'tokens')
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local topId = tonumber(string.match(top[1][1], '^(%d+)'))
  if topId > last then last = topId end
  local fields = top[1][2]
  for i = 1, #fields, 2 do if fields[i] == 'n' then tokens = fields[i + 1] end end
end
local id = last + 1
view['status'] = ARGV[1]
view['finish_reason'] = ARGV[2]
view['ended_at'] = ARGV[3]
if ARGV[1] == 'cancelled' then view['cancelled_at'] = ARGV[3] end
if ARGV[4] ~= '' then view['error'] = cjson.decode(ARGV[4]) end
view['queue_position'] = cjson.null
view['last_event_id'] = id
if tokens then view['usage']['output_tokens'] = tonumber(tokens) end
json = cjson.encode(view)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], id .. '-0', 't', ARGV[7], 'd', json)
redis.call('HSET', KEYS[1], 'last', id, 'view', json, 'final', '1')
redis.call('SREM', KEYS[3], ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[9], id .. '\n' .. ARGV[7] .. '\n' .. json)
return json
