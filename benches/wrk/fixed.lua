-- Every request with the same Authorization header (KW_AUTH), or none when it is empty.
local auth = os.getenv("KW_AUTH") or ""
if auth ~= "" then
  wrk.headers["Authorization"] = auth
end
