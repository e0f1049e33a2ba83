-- The owner's terminal event: written only while no terminal state is recorded, so that across
-- replicas the first terminal transition wins.
-- KEYS: hash, events, owned. ARGV: event id, type, data, view, tokens, retention (ms), max events,
-- stream id, channel.
if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if tonumber(ARGV[1]) > last then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], ARGV[1] .. '-0', 't', ARGV[2], 'd', ARGV[3])
end
redis.call('HSET', KEYS[1], 'last', ARGV[1], 'tokens', ARGV[5], 'view', ARGV[4], 'final', '1')
redis.call('SREM', KEYS[3], ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PUBLISH', ARGV[9], ARGV[1] .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
return 1
