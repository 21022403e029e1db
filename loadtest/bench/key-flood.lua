-- wrk script of key-flood.sh: every request carries a new x-api-key, "t<thread>-<n>". A thread
-- stops once it has had N responses (`wrk ... -s key-flood.lua URL -- N MARKER`) and creates the
-- file MARKER, for the script to end wrk with SIGINT: wrk itself would wait out its -d. done()
-- prints one line the script reads:
--   flood: sent S ok O limited L other X
-- S counts requests written, so S distinct keys reached the gateway (or were in flight).

local threads = {}
local next_id = 1

-- Runs in wrk's main Lua state, once per thread, before the threads start.
function setup(thread)
	thread:set("id", next_id)
	next_id = next_id + 1
	table.insert(threads, thread)
end

-- Per thread (each has its own Lua state); globals so that done() can read them with get().
sent, ok, limited, other = 0, 0, 0, 0
local quota, marker

function init(args)
	quota = tonumber(args[1]) or 1000000
	marker = args[2]
end

function request()
	sent = sent + 1
	return wrk.format(nil, nil, { ["x-api-key"] = "t" .. id .. "-" .. sent })
end

function response(status)
	if status == 200 then
		ok = ok + 1
	elseif status == 429 then
		limited = limited + 1
	else
		other = other + 1
	end
	if ok + limited + other == quota then
		if marker then
			io.open(marker, "w"):close()
		end
		wrk.thread:stop()
	end
end

function done()
	local s, o, l, x = 0, 0, 0, 0
	for _, thread in ipairs(threads) do
		s = s + thread:get("sent")
		o = o + thread:get("ok")
		l = l + thread:get("limited")
		x = x + thread:get("other")
	end
	io.write(string.format("flood: sent %d ok %d limited %d other %d\n", s, o, l, x))
end
