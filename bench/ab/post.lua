-- bench/ab/post.lua: a same-origin JSON POST with a session cookie, as a
-- browser application sends it (CSRF, CORS, content type, body size and
-- input validation all look at it); for bench/ab.sh -l
wrk.method = "POST"
wrk.body = '{"name":"bench","items":[1,2,3],"note":"hello world"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "session=abc123; theme=dark"
wrk.headers["Origin"] = "http://app.bench"
wrk.headers["Host"] = "app.bench"
