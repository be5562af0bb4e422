import Redis
import TestFaults

/// The Lua scripts that make each cache change atomic in Redis. An album's keys share a hash tag
/// (`catalog:{<id>}:view`, `catalog:{<id>}:fence`), so each script touches one slot.
enum CacheScripts {
    /// Tokens are compared as decimal strings (shorter is smaller, then lexicographic): Lua's numbers are
    /// doubles and transaction ids may pass 2^53.
    private static let compare = """
        local function less(a, b)
          if #a ~= #b then return #a < #b end
          return a < b
        end
        local function newer(x1, p1, x2, p2)
          if x1 ~= x2 then return less(x2, x1) end
          return less(p2, p1)
        end
        """

    /// KEYS: view, fence. ARGV: version, txid, position, state, document, ttl (ms).
    /// Stores the view only when its version is at or above the album's fence and it is newer than what is
    /// there (a higher version, or the same version read in a later snapshot). Returns 1 when stored.
    static let fill = fillScript(refusingBelowFence: true)

    /// Test fault `fill-skips-fence` (breaks I5): `fill` without the refusal of a view below the album's
    /// fence; everything else the same (same keys and arguments, newer-than-what-is-there check, TTL).
    static let fillSkippingFence = fillScript(refusingBelowFence: false)

    /// The script `ViewCache.fill` runs: `fill`, or `fillSkippingFence` in a process started with the test
    /// fault `fill-skips-fence` (see `TestFaults`). Chosen once.
    static let fillInUse = TestFaults.isActive(.fillSkipsFence) ? fillSkippingFence : fill

    private static func fillScript(refusingBelowFence: Bool) -> RedisScript {
        let fenceCheck = """

            local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
            if version < fence then return 0 end
            """
        return RedisScript(
            compare + """

                local version = tonumber(ARGV[1])
                """ + (refusingBelowFence ? fenceCheck : "") + """

                    local current = redis.call('HMGET', KEYS[1], 'v', 'x', 'p')
                    if current[1] then
                      local stored = tonumber(current[1])
                      if stored > version then return 0 end
                      if stored == version and not newer(ARGV[2], ARGV[3], current[2], current[3]) then return 0 end
                    end
                    redis.call('HSET', KEYS[1], 'v', ARGV[1], 'x', ARGV[2], 'p', ARGV[3], 's', ARGV[4], 'd', ARGV[5])
                    redis.call('PEXPIRE', KEYS[1], ARGV[6])
                    return 1
                    """
        )
    }

    /// KEYS: fence, view. ARGV: version, fence ttl (ms).
    /// Raises the album's fence to at least `version` (refreshing its lifetime) and removes a cached view
    /// below the fence, in one step. Returns the fence.
    static let invalidate = RedisScript(
        """
        local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
        local version = tonumber(ARGV[1])
        if version > fence then fence = version end
        redis.call('SET', KEYS[1], fence, 'PX', ARGV[2])
        local stored = redis.call('HGET', KEYS[2], 'v')
        if stored and tonumber(stored) < fence then redis.call('DEL', KEYS[2]) end
        return fence
        """
    )
}
