-- Zipf sampling for the wrk scripts bench/zipf-get-album.lua and bench/zipf-patch-album.lua:
-- load(path, s) reads ids (one a line; the line number is the rank, rank 1 the hottest) and returns a
-- function drawing one id with P(rank k) proportional to 1 / k^s, from a CDF computed once and a binary
-- search over it (one math.random() a draw).
local zipf = {}

function zipf.load(path, s)
    local ids, cdf = {}, {}
    for id in io.lines(path) do
        ids[#ids + 1] = id
    end
    assert(#ids > 0, "no album ids in " .. tostring(path))
    local total = 0
    for k = 1, #ids do
        total = total + 1 / k ^ s
        cdf[k] = total
    end
    for k = 1, #ids do
        cdf[k] = cdf[k] / total
    end
    cdf[#ids] = 1.0
    return function()
        local u = math.random()
        local lo, hi = 1, #cdf
        while lo < hi do
            local mid = math.floor((lo + hi) / 2)
            if cdf[mid] < u then lo = mid + 1 else hi = mid end
        end
        return ids[lo]
    end
end

return zipf
