-- wrk script: POST a small JSON body (bench/echo_wrk.sh).
wrk.method = "POST"
wrk.body = '{"hello": "world", "n": 1}'
wrk.headers["Content-Type"] = "application/json"
