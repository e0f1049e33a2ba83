-- The owner writes one of its streams again (Redis came back empty): the retained events in order,
-- then the status. A stream another replica ended meanwhile keeps its terminal state (returns 0).
-- KEYS: hash, events, owned, replica. ARGV: view, last, tokens, terminal ('1'/'0'), retention (ms),
-- stream id, max events, then id/type/data for each event.
if ARGV[4] == '0' and redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 0 end
redis.call('DEL', KEYS[2])
for i = 8, #ARGV, 3 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], ARGV[i] .. '-0', 't', ARGV[i + 1], 'd', ARGV[i + 2])
end
redis.call('HSET', KEYS[1], 'view', ARGV[1], 'last', ARGV[2], 'tokens', ARGV[3], 'owner', KEYS[4])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'final', '1')
  redis.call('SREM', KEYS[3], ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
else
  redis.call('SADD', KEYS[3], ARGV[6])
end
return 1
