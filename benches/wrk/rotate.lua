-- Cycles through the keys in the file KW_KEYS, one per request, from a random start per
-- thread, and gives each request a different X-Forwarded-For so failures are not
-- throttled as one client's.
local keys = {}
local i = 0

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
  local ip = "10." .. (i % 250) .. "." .. (math.floor(i / 250) % 250) .. ".7"
  return wrk.format("GET", "/api/v1/whoami", { ["Authorization"] = "ApiKey " .. key, ["X-Forwarded-For"] = ip })
end
