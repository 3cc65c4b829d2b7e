-- wrk script: POST a JSON body. The body is the content of the file named by
-- $WRK_BODY_FILE, or {"hello": "world", "n": 1} without it (bench/lib.sh).
wrk.method = "POST"
wrk.body = '{"hello": "world", "n": 1}'
wrk.headers["Content-Type"] = "application/json"

local path = os.getenv("WRK_BODY_FILE")
if path and path ~= "" then
	local f = assert(io.open(path, "rb"))
	wrk.body = f:read("*a")
	f:close()
end
