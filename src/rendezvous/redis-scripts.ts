/**
 * The Lua scripts of the Redis store, and how they are run: EVALSHA first (the script's text is sent once
 * per Redis start, not with every update), EVAL when Redis answers NOSCRIPT (a restart, a flush). Every key a
 * script touches is passed in KEYS, and all of a store's keys share one hash tag (`{netpunch}:`), so the
 * scripts also run on Redis Cluster (one slot).
 */

/** What the store needs of a Redis connection: one raw command (Bun's RedisClient.send has this shape). */
export interface RedisCommands {
  send(command: string, args: string[]): Promise<unknown>;
}

export class RedisScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = new Bun.CryptoHasher("sha1").update(source).digest("hex");
  }

  async run(redis: RedisCommands, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      return await redis.send("EVALSHA", [this.sha, ...rest]);
    } catch (e) {
      if (!String((e as Error)?.message).startsWith("NOSCRIPT")) throw e;
      return redis.send("EVAL", [this.source, ...rest]);
    }
  }
}

/**
 * Writes a session's record if it is still the one `update` read (compare and set, atomic in Redis):
 * KEYS record, wake (sorted set by wakeAt), names (set of sessions), hosts (hash: registrations per host).
 * ARGV name, expected text ("" for none), new text ("" deletes), wakeAt score ("" for none), the count of
 * old hosts, the old hosts, then the new hosts. Returns 1 when written, 0 on a conflict (retry).
 */
export const COMPARE_AND_SET = new RedisScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[2] then return 0 end
local nold = tonumber(ARGV[5])
for i = 6, 5 + nold do
  if redis.call('HINCRBY', KEYS[4], ARGV[i], -1) <= 0 then redis.call('HDEL', KEYS[4], ARGV[i]) end
end
for i = 6 + nold, #ARGV do redis.call('HINCRBY', KEYS[4], ARGV[i], 1) end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[1])
  if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
end
return 1
`);

/**
 * Frees what has expired by `now` in one index: KEYS the index (sorted set by until); ARGV now, the key
 * prefix of its entries. Each entry's key is deleted (Redis may have expired it already), then the entries.
 * Costs what it frees.
 */
export const SWEEP = new RedisScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, id in ipairs(ids) do redis.call('DEL', ARGV[2] .. id) end
if #ids > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
return #ids
`);

/**
 * Takes a pair's relay place over from a server that is gone: KEYS the place; ARGV the place as it was read
 * (the gone server's), this server's claim, its expiry in ms. Returns nil when this server holds it now,
 * else the place another server wrote in between (it took over first, or the owner settled after all).
 */
export const TAKE_OVER_PLACE = new RedisScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false
`);

/**
 * Records an opened relay (its port, or the refusal) only while the place is still this server's: KEYS the
 * place; ARGV this server's id, the place, its expiry in ms. A server taken for gone that comes back never
 * overwrites the place of the server that took the pair over. Returns 1 when written.
 */
export const SETTLE_PLACE = new RedisScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, place = pcall(cjson.decode, cur)
if not ok or type(place) ~= 'table' or place.server ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);
