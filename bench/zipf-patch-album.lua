-- wrk script: PATCH /albums/{id} with a new title every time (no If-Match: never a 412), for ids drawn
-- from a Zipf distribution (bench/zipf.lua) over a file of ids; each connection waits delay-ms (wrk's
-- delay()) before its next request, which paces the writes. Answers are counted by status; done() prints
-- one "status <code> <count>" line each. Arguments after `--`: ids-file delay-ms [s (default 1.0)].
-- Run from the repository's root.
local zipf = dofile("bench/zipf.lua")
local draw
local pause = 0
local counter = 0
local threads = {}
statuses = {}

function setup(thread)
    threads[#threads + 1] = thread
    thread:set("seed", #threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + seed * 104729)
    draw = zipf.load(args[1], tonumber(args[3] or "1.0"))
    pause = tonumber(args[2] or "0")
end

-- command-api authenticates every command: the cluster's development token (infra/cluster env).
authorization = "Bearer " .. (os.getenv("CATALOG_TOKEN") or "")

function request()
    counter = counter + 1
    local body = string.format('{"title":"Zipf bench %d.%d.%d"}', seed, counter, math.random(1000000000))
    return wrk.format("PATCH", "/albums/" .. draw(), { ["Content-Type"] = "application/json", ["Authorization"] = authorization }, body)
end

function delay()
    return pause
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local totals = {}
    for _, thread in ipairs(threads) do
        local counts = thread:get("statuses")
        for status, count in pairs(counts or {}) do
            totals[status] = (totals[status] or 0) + count
        end
    end
    for status, count in pairs(totals) do
        io.write(string.format("status %d %d\n", status, count))
    end
end
