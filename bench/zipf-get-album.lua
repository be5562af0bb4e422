-- wrk script: GET /albums/{id} for ids drawn from a Zipf distribution (bench/zipf.lua) over a file of ids.
-- Arguments after `--`: ids-file [s (default 1.0)]. Run from the repository's root.
local zipf = dofile("bench/zipf.lua")
local draw
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("seed", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + seed * 7919)
    draw = zipf.load(args[1], tonumber(args[2] or "1.0"))
end

function request()
    return wrk.format("GET", "/albums/" .. draw())
end
