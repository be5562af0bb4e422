"""schemathesis hooks for scripts/fuzz.

Drops two kinds of failure only.

A schema-valid request refused (ST202) whose header breaks that header's own pattern: schemathesis
4.32's coverage phase narrows generated header values to letters and digits, which a pattern needing
quotes or dots (If-Match, Consistency-Token) cannot satisfy, and then sends "0" labelled as valid.

A request judged by its schema alone (ST201: a schema-violating
request accepted; ST202: a schema-valid request refused) whose answer depends on what earlier requests
of the run did to the album, not on the request itself:

- 412 "Version mismatch": If-Match names a version the album has moved past;
- 410 "Album archived": an earlier DELETE archived the album, which takes no more commands;
- 422 "Idempotency key reused": an earlier request used the same Idempotency-Key with another body
  (draft-ietf-httpapi-idempotency-key-header answers 422).

And a schema-valid request refused (ST202) for a value only the service mints, which no schema can
describe beyond its alphabet: a page cursor it never gave (400 naming `after`), a Consistency-Token
no transaction of this catalog has reached (400, "no write of this catalog has that token").

Every other failure stands, these statuses with any other problem title included.
"""

import json
import re

import schemathesis

STATE_DEPENDENT = {
    (412, "Version mismatch"),
    (410, "Album archived"),
    (422, "Idempotency key reused"),
}


def breaks_a_header_pattern(case):
    headers = {name.lower(): value for name, value in (case.headers or {}).items()}
    for parameter in case.operation.headers:
        schema = (parameter.definition or {}).get("schema") or {}
        pattern = schema.get("pattern")
        value = headers.get(parameter.name.lower())
        if isinstance(pattern, str) and isinstance(value, str) and not re.search(pattern, value):
            return True
    return False


# (status, problem title, words of its detail) of values only the service mints.
NEVER_ISSUED = {
    (400, "Invalid query parameter", "not a cursor of"),
    (400, "Invalid Consistency-Token", "no write of this catalog has that token"),
}


def problem(response):
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if failure.code not in ("ST201", "ST202"):
        return True
    if failure.code == "ST202" and breaks_a_header_pattern(case):
        return False
    body = problem(response)
    if body is None:
        return True
    title, detail = body.get("title"), str(body.get("detail", ""))
    if (response.status_code, title) in STATE_DEPENDENT:
        return False
    if failure.code == "ST202" and any(
        response.status_code == status and title == name and words in detail for status, name, words in NEVER_ISSUED
    ):
        return False
    return True
