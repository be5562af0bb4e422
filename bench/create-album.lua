-- wrk script: one CreateAlbum command per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"Kind of Blue","artist":"Miles Davis","releaseYear":1959,"songs":[{"title":"So What","durationSeconds":562},{"title":"Freddie Freeloader","durationSeconds":586}]}'
