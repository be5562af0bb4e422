-- wrk script: one CreateAlbum command per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- command-api authenticates every command: the cluster's development token (infra/cluster env).
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("CATALOG_TOKEN") or "")
wrk.body = '{"title":"Kind of Blue","artist":"Miles Davis","releaseYear":1959,"songs":[{"title":"So What","durationSeconds":562},{"title":"Freddie Freeloader","durationSeconds":586}]}'
