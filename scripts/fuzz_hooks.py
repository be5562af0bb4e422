"""schemathesis hooks for scripts/fuzz.

Drops four kinds of failure, each only when its exact cause is shown; every other failure stands.

1. A schema-valid request refused (ST202) whose header breaks that header's own pattern: schemathesis
   4.32's coverage phase narrows generated header values to letters and digits, which a pattern needing
   quotes or dots (If-Match, Consistency-Token) cannot satisfy, and then sends "0" labelled as valid.

2. A request judged by its schema alone (ST201: a schema-violating request accepted; ST202: a
   schema-valid request refused) whose answer is right because of what earlier requests of this run did
   to the album, as recorded by the `after_call` hook below from the requests actually sent:

   - 412 "Version mismatch": only when the request carried an If-Match the service's grammar accepts,
     other than `*`, and the album's current version (the service's detail says "the album is at
     version N") is none of the strong entity tags it names, i.e. the album has moved past the version
     it names (or a weak or never-reached tag, which RFC 9110's strong comparison never matches). A
     412 without If-Match, with `*`, with a malformed If-Match, or naming the current version stands;
   - 410 "Album archived": only for an album that this run archived earlier (a DELETE /albums/{id}
     answered 2xx). scripts/fuzz runs command-api first and query-api second, two schemathesis
     processes; the archived ids are shared through the file $FUZZ_STATE_DIR/archived-albums;
   - 422 "Idempotency key reused": only when this run sent the same Idempotency-Key earlier, answered
     2xx, with another method, path or body (the service fingerprints method, path and body;
     draft-ietf-httpapi-idempotency-key-header answers 422). So that a key used by an earlier run (the
     database outlives runs) cannot make a 422, `before_call` appends the run's id ($FUZZ_RUN_ID) to
     every well-formed generated key, keeping it within the header's 1-200 printable characters.

3. A schema-valid request refused (ST202) for a value only the service mints, which no schema can
   describe beyond its alphabet: a page cursor it never gave (400 naming `after`), a Consistency-Token
   no transaction of this catalog has reached (400, "no write of this catalog has that token").

4. A schema-violating request (ST201, "accepted") that was in fact refused with 413 "Body too large":
   schemathesis 4.32 does not count 413 among the refusals it expects, and a generated body can exceed
   command-api's limit (256 KiB) while breaking the schema. Dropped only when the body sent really was
   over the limit; a 413 for a smaller body stands.

Besides, `before_call` changes one request the client cannot send: a generated header value equal to
urllib3's SKIP_HEADER sentinel ("@@@SKIP_HEADER@@@"), which urllib3 (under requests, under schemathesis)
refuses with a ValueError before a byte leaves, for every header but Host, User-Agent and
Accept-Encoding. It is sent with its underscore made a hyphen: the same length and kind of characters.

At exit each schemathesis process prints how many failures each rule dropped. scripts/fuzz_hooks_test.py
checks these rules with fabricated requests and answers (plain python3, run by scripts/fuzz first).
"""

import atexit
import collections
import json
import os
import re
import sys
from urllib.parse import unquote, urlsplit

import schemathesis

# The If-Match grammar of the command API's OpenAPI document (and of Sources/CommandAPI/IfMatch.swift).
IF_MATCH = re.compile(r'^[ \t]*(\*|[ \t,]*(W/)?"[\x21\x23-\x7E]*"([ \t]*,([ \t]*(W/)?"[\x21\x23-\x7E]*")?)*)[ \t]*$')
ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7E]*)"')
# A version the service writes: a decimal without a sign or leading zero ("03", "+1", "-1" match nothing).
VERSION = re.compile(r"^(0|[1-9][0-9]{0,17})$")
CURRENT_VERSION = re.compile(r"^the album is at version ([0-9]+)$")
ALBUM_PATH = re.compile(r"^/albums/([^/]+)(/.*)?$")

# (status, problem title, words of its detail) of values only the service mints.
NEVER_ISSUED = {
    (400, "Invalid query parameter", "not a cursor of"),
    (400, "Invalid Consistency-Token", "no write of this catalog has that token"),
}

# What this process saw of the run: albums archived, and idempotency keys with the fingerprints of the
# requests answered 2xx that carried them.
archived_here = set()
keys_used = collections.defaultdict(set)
dropped = collections.Counter()


def state_file():
    directory = os.environ.get("FUZZ_STATE_DIR")
    return os.path.join(directory, "archived-albums") if directory else None


def archived_albums():
    albums = set(archived_here)
    path = state_file()
    if path and os.path.exists(path):
        with open(path) as file:
            albums.update(line.strip() for line in file if line.strip())
    return albums


# ---- what a request carried, read from the request actually sent


def sent_headers(response):
    request = getattr(response, "request", None)
    headers = getattr(request, "headers", None) or {}
    return {str(name).lower(): value for name, value in headers.items()}


def sent_method(response):
    return str(getattr(response.request, "method", "") or "").upper()


def sent_path(response):
    url = getattr(response.request, "url", "") or ""
    return urlsplit(url).path


# command-api's largest body (CommandRoutes.maximumBodyBytes).
BODY_LIMIT = 256 * 1024


def sent_body(response):
    body = getattr(response.request, "body", None)
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else bytes(body)


def album_of(response):
    match = ALBUM_PATH.match(sent_path(response))
    return unquote(match.group(1)).lower() if match else None


def fingerprint(response):
    """Method, path and body, the body as canonical JSON when it is JSON (the service fingerprints the
    canonical form of the command, so whitespace and key order do not make another body)."""
    body = sent_body(response)
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        pass
    return (sent_method(response), sent_path(response), body)


def is_valid_key(value):
    return isinstance(value, str) and 1 <= len(value.encode()) <= 200 and all(0x20 <= ord(c) <= 0x7E for c in value)


# ---- the rules


def if_match_versions(value):
    """'*', the set of strong versions named, or None when the value is outside the grammar."""
    if not isinstance(value, str) or not IF_MATCH.match(value):
        return None
    if value.strip(" \t") == "*":
        return "*"
    return {int(tag) for weak, tag in ENTITY_TAG.findall(value) if not weak and VERSION.match(tag)}


def version_moved_past(response, body):
    """A 412 'Version mismatch' is the right answer: If-Match was sent, in the grammar, not `*`, and the
    album's current version is not among the versions it names."""
    if_match = sent_headers(response).get("if-match")
    if if_match is None:
        return False
    versions = if_match_versions(if_match)
    if versions is None or versions == "*":
        return False
    current = CURRENT_VERSION.match(str(body.get("detail", "")))
    return current is not None and int(current.group(1)) not in versions


def archived_by_this_run(response):
    album = album_of(response)
    return album is not None and album in archived_albums()


def key_reused_by_this_run(response):
    key = sent_headers(response).get("idempotency-key")
    if key is None:
        return False
    return bool(keys_used.get(key, set()) - {fingerprint(response)})


STATE_DEPENDENT = {
    (412, "Version mismatch"): ("412 version moved past If-Match", version_moved_past),
    (410, "Album archived"): ("410 album archived by this run", lambda response, body: archived_by_this_run(response)),
    (422, "Idempotency key reused"): (
        "422 key used by this run with another request",
        lambda response, body: key_reused_by_this_run(response),
    ),
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


def problem(response):
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return None
    return body if isinstance(body, dict) else None


def keep_failure(failure, case, response):
    if failure.code not in ("ST201", "ST202"):
        return True
    if failure.code == "ST202" and breaks_a_header_pattern(case):
        dropped["ST202 header breaks its own pattern"] += 1
        return False
    body = problem(response)
    if body is None:
        return True
    title, detail = body.get("title"), str(body.get("detail", ""))
    rule = STATE_DEPENDENT.get((response.status_code, title))
    if rule is not None:
        name, holds = rule
        if holds(response, body):
            dropped[name] += 1
            return False
        return True
    if (
        failure.code == "ST201"
        and response.status_code == 413
        and title == "Body too large"
        and len(sent_body(response)) > BODY_LIMIT
    ):
        dropped["ST201 413 Body too large: refused, not accepted"] += 1
        return False
    if failure.code == "ST202" and any(
        response.status_code == status and title == name and words in detail for status, name, words in NEVER_ISSUED
    ):
        dropped[f"ST202 {response.status_code} {title}: a value only the service mints"] += 1
        return False
    return True


def record(case, response):
    """What a sent request did to the run's state: an album archived, an idempotency key taken."""
    if not 200 <= response.status_code < 300:
        return
    method, path = sent_method(response), sent_path(response)
    match = ALBUM_PATH.match(path)
    if method == "DELETE" and match and match.group(2) in (None, "", "/"):
        album = unquote(match.group(1)).lower()
        if album not in archived_here:
            archived_here.add(album)
            path = state_file()
            if path:
                with open(path, "a") as file:
                    file.write(album + "\n")
    key = sent_headers(response).get("idempotency-key")
    if key is not None:
        keys_used[key].add(fingerprint(response))


def make_key_unique(case):
    """Appends the run's id to a well-formed Idempotency-Key, so that a key a previous run used cannot
    collide; a malformed one (negative testing) is sent as generated."""
    run = os.environ.get("FUZZ_RUN_ID")
    if not run or not case.headers:
        return
    for name, value in list(case.headers.items()):
        if name.lower() == "idempotency-key" and is_valid_key(value):
            suffix = f"~{run}"
            case.headers[name] = value[: 200 - len(suffix)] + suffix


# urllib3.util.SKIP_HEADER, which urllib3 reads as "leave this header out" (urllib3/util/request.py).
SKIP_HEADER = "@@@SKIP_HEADER@@@"


def avoid_client_sentinel(case):
    """Changes a header value the HTTP client would refuse to send (urllib3's SKIP_HEADER) into one it
    sends, of the same length and characters but one (generated input is not the client's to choose)."""
    if not case.headers:
        return
    for name, value in list(case.headers.items()):
        if value == SKIP_HEADER:
            case.headers[name] = SKIP_HEADER.replace("_", "-")


# ---- the hooks schemathesis calls


@schemathesis.hook
def before_call(context, case, kwargs):
    avoid_client_sentinel(case)
    make_key_unique(case)


@schemathesis.hook
def after_call(context, case, response):
    record(case, response)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    return keep_failure(failure, case, response)


@atexit.register
def report():
    if dropped:
        rules = ", ".join(f"{name}: {count}" for name, count in sorted(dropped.items()))
        print(f"fuzz_hooks: dropped {sum(dropped.values())} failures ({rules})", file=sys.stderr)
    else:
        print("fuzz_hooks: dropped no failure", file=sys.stderr)
