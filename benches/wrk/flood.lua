-- Cycles through the made-up keys in the file KW_KEYS, one per request, all from the one
-- client address KW_FLOODER (X-Forwarded-For; the server trusts 127.0.0.1): a flood from
-- behind one NAT or gateway.
local keys = {}
local i = 0
local flooder = os.getenv("KW_FLOODER")

function init(args)
  for line in io.lines(os.getenv("KW_KEYS")) do
    keys[#keys + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(#keys)
end

function request()
  i = i + 1
  local key = keys[(i % #keys) + 1]
  return wrk.format("GET", "/api/v1/whoami", { ["Authorization"] = "ApiKey " .. key, ["X-Forwarded-For"] = flooder })
end
