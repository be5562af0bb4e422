-- wrk script: GET /albums/{id} for an id drawn at random from a file of ids (one a line), given after `--`.
local requests = {}
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("seed", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + seed)
    -- BENCH_TOKEN (bench/security): every request carries it, for a query-api with --read-auth required.
    local token = os.getenv("BENCH_TOKEN")
    if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
    for id in io.lines(args[1]) do
        requests[#requests + 1] = wrk.format("GET", "/albums/" .. id)
    end
    assert(#requests > 0, "no album ids in " .. tostring(args[1]))
end

function request()
    return requests[math.random(#requests)]
end
