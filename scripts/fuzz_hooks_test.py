#!/usr/bin/env python3
"""Checks the rules of scripts/fuzz_hooks.py with fabricated requests and answers: each failure is dropped
only for its exact cause. Plain python3 (a stand-in for schemathesis when it is not importable):

    python3 scripts/fuzz_hooks_test.py

scripts/fuzz runs it first, with the pinned schemathesis on the path.
"""

import atexit
import json
import os
import sys
import tempfile
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import schemathesis  # noqa: F401
except ImportError:
    sys.modules["schemathesis"] = types.SimpleNamespace(hook=lambda function: function)

import fuzz_hooks  # noqa: E402

atexit.unregister(fuzz_hooks.report)

ALBUM = "6f0e1c2a-1111-4222-8333-444455556666"
OTHER = "0a0b0c0d-1111-4222-8333-444455556666"


def response(status, method, path, headers=None, body=None, problem=None):
    request = types.SimpleNamespace(
        method=method,
        url=f"http://127.0.0.1:1{path}",
        headers=dict(headers or {}),
        body=None if body is None else json.dumps(body).encode(),
    )
    content = json.dumps(problem).encode() if problem is not None else b""
    return types.SimpleNamespace(status_code=status, request=request, content=content)


def case(headers=None, operation_headers=()):
    parameters = [types.SimpleNamespace(name=name, definition={"schema": {"pattern": pattern}}) for name, pattern in operation_headers]
    return types.SimpleNamespace(headers=dict(headers or {}), operation=types.SimpleNamespace(headers=parameters))


def failure(code="ST202"):
    return types.SimpleNamespace(code=code)


def mismatch(version):
    return {"title": "Version mismatch", "status": 412, "detail": f"the album is at version {version}"}


ARCHIVED = {"title": "Album archived", "status": 410, "detail": "an archived album takes no more commands"}
REUSED = {"title": "Idempotency key reused", "status": 422, "detail": "this Idempotency-Key was used for a different request"}


class HookTests(unittest.TestCase):
    def setUp(self):
        fuzz_hooks.archived_here.clear()
        fuzz_hooks.keys_used.clear()
        fuzz_hooks.dropped.clear()
        self.state = tempfile.TemporaryDirectory()
        os.environ["FUZZ_STATE_DIR"] = self.state.name
        os.environ.pop("FUZZ_RUN_ID", None)

    def tearDown(self):
        self.state.cleanup()
        os.environ.pop("FUZZ_STATE_DIR", None)
        fuzz_hooks.dropped.clear()

    def keep(self, answer, code="ST202", sent_case=None):
        return fuzz_hooks.keep_failure(failure(code), sent_case or case(), answer)

    def sent(self, answer):
        fuzz_hooks.record(case(), answer)

    # 412

    def test_a_412_without_if_match_stands(self):
        self.assertTrue(self.keep(response(412, "PATCH", f"/albums/{ALBUM}", problem=mismatch(3))))

    def test_a_412_for_a_version_the_album_moved_past_is_dropped(self):
        answer = response(412, "PATCH", f"/albums/{ALBUM}", headers={"If-Match": '"1"'}, problem=mismatch(3))
        self.assertFalse(self.keep(answer))
        self.assertFalse(self.keep(answer, code="ST201"))

    def test_a_412_naming_the_current_version_stands(self):
        self.assertTrue(self.keep(response(412, "PATCH", f"/albums/{ALBUM}", headers={"If-Match": '"2", "3"'}, problem=mismatch(3))))

    def test_a_412_for_star_or_a_malformed_if_match_stands(self):
        for value in ["*", " * ", "3", "W/3", '"3']:
            with self.subTest(value=value):
                self.assertTrue(self.keep(response(412, "PATCH", f"/albums/{ALBUM}", headers={"If-Match": value}, problem=mismatch(3))))

    def test_a_412_for_a_weak_or_non_version_tag_is_dropped(self):
        for value in ['W/"3"', '"03"', '"x"', '""']:
            with self.subTest(value=value):
                self.assertFalse(self.keep(response(412, "PATCH", f"/albums/{ALBUM}", headers={"If-Match": value}, problem=mismatch(3))))

    def test_a_412_without_the_current_version_or_with_another_title_stands(self):
        self.assertTrue(self.keep(response(412, "PATCH", f"/albums/{ALBUM}", headers={"If-Match": '"1"'}, problem={"title": "Version mismatch"})))
        other = {"title": "Precondition failed", "detail": "the album is at version 3"}
        self.assertTrue(self.keep(response(412, "PATCH", f"/albums/{ALBUM}", headers={"If-Match": '"1"'}, problem=other)))

    # 410

    def test_a_410_for_an_album_this_run_did_not_archive_stands(self):
        self.assertTrue(self.keep(response(410, "PATCH", f"/albums/{ALBUM}", body={"title": "x"}, problem=ARCHIVED)))

    def test_a_410_for_an_album_this_run_archived_is_dropped(self):
        self.sent(response(204, "DELETE", f"/albums/{ALBUM}"))
        self.assertFalse(self.keep(response(410, "PATCH", f"/albums/{ALBUM}", body={"title": "x"}, problem=ARCHIVED)))
        self.assertFalse(self.keep(response(410, "POST", f"/albums/{ALBUM.upper()}/songs", body={"title": "x"}, problem=ARCHIVED)))
        self.assertTrue(self.keep(response(410, "PATCH", f"/albums/{OTHER}", body={"title": "x"}, problem=ARCHIVED)))

    def test_a_refused_delete_or_a_removed_song_archives_nothing(self):
        self.sent(response(404, "DELETE", f"/albums/{ALBUM}"))
        self.sent(response(200, "DELETE", f"/albums/{ALBUM}/songs/{OTHER}"))
        self.assertTrue(self.keep(response(410, "PATCH", f"/albums/{ALBUM}", body={"title": "x"}, problem=ARCHIVED)))

    def test_an_album_archived_by_the_other_schemathesis_process_counts(self):
        with open(os.path.join(self.state.name, "archived-albums"), "w") as file:
            file.write(ALBUM + "\n")
        self.assertFalse(self.keep(response(410, "GET", f"/albums/{ALBUM}", problem={"title": "Album archived", "detail": "the album was archived"})))

    def test_archiving_is_written_for_the_other_process(self):
        self.sent(response(200, "DELETE", f"/albums/{ALBUM}"))
        with open(os.path.join(self.state.name, "archived-albums")) as file:
            self.assertEqual(file.read().split(), [ALBUM])

    # 422

    def test_a_422_for_a_key_never_used_stands(self):
        self.assertTrue(self.keep(response(422, "POST", "/albums", headers={"Idempotency-Key": "k"}, body={"title": "a"}, problem=REUSED)))

    def test_a_422_for_a_key_used_with_the_same_request_stands(self):
        self.sent(response(201, "POST", "/albums", headers={"Idempotency-Key": "k"}, body={"title": "a", "artist": "b"}))
        reordered = response(422, "POST", "/albums", headers={"Idempotency-Key": "k"}, body={"artist": "b", "title": "a"}, problem=REUSED)
        self.assertTrue(self.keep(reordered))

    def test_a_422_for_a_key_used_with_another_body_is_dropped(self):
        self.sent(response(201, "POST", "/albums", headers={"Idempotency-Key": "k"}, body={"title": "a"}))
        self.assertFalse(self.keep(response(422, "POST", "/albums", headers={"Idempotency-Key": "k"}, body={"title": "b"}, problem=REUSED)))
        self.assertFalse(
            self.keep(response(422, "PATCH", f"/albums/{ALBUM}", headers={"Idempotency-Key": "k"}, body={"title": "a"}, problem=REUSED))
        )
        self.assertTrue(self.keep(response(422, "POST", "/albums", headers={"Idempotency-Key": "j"}, body={"title": "b"}, problem=REUSED)))

    def test_a_key_whose_request_was_refused_was_not_used(self):
        self.sent(response(400, "POST", "/albums", headers={"Idempotency-Key": "k"}, body={"title": 1}))
        self.assertTrue(self.keep(response(422, "POST", "/albums", headers={"Idempotency-Key": "k"}, body={"title": "b"}, problem=REUSED)))

    def test_well_formed_keys_get_the_run_id(self):
        os.environ["FUZZ_RUN_ID"] = "r1"
        try:
            sent = case(headers={"Idempotency-Key": "0", "Other": "0"})
            fuzz_hooks.make_key_unique(sent)
            self.assertEqual(sent.headers, {"Idempotency-Key": "0~r1", "Other": "0"})
            long = case(headers={"Idempotency-Key": "x" * 200})
            fuzz_hooks.make_key_unique(long)
            self.assertEqual(long.headers["Idempotency-Key"], "x" * 197 + "~r1")
            for malformed in ["", "x" * 201, "a\tb", "é"]:
                sent = case(headers={"Idempotency-Key": malformed})
                fuzz_hooks.make_key_unique(sent)
                self.assertEqual(sent.headers["Idempotency-Key"], malformed)
        finally:
            os.environ.pop("FUZZ_RUN_ID")

    def test_the_client_sentinel_is_sent_as_an_ordinary_value(self):
        sent = case(headers={"Request-Id": "@@@SKIP_HEADER@@@", "Consistency-Token": "1.2", "Other": "@@@SKIP_HEADER@@@x"})
        fuzz_hooks.avoid_client_sentinel(sent)
        self.assertEqual(sent.headers, {"Request-Id": "@@@SKIP-HEADER@@@", "Consistency-Token": "1.2", "Other": "@@@SKIP_HEADER@@@x"})
        try:
            from urllib3.util import SKIP_HEADER
        except ImportError:
            return
        self.assertEqual(fuzz_hooks.SKIP_HEADER, SKIP_HEADER)

    # the rules kept from before

    def test_other_checks_and_other_answers_stand(self):
        self.assertTrue(self.keep(response(500, "GET", "/albums", problem={"title": "Internal error"}), code="ST101"))
        self.assertTrue(self.keep(response(412, "PATCH", f"/albums/{ALBUM}", headers={"If-Match": '"1"'}, problem=mismatch(3)), code="ST101"))
        self.assertTrue(self.keep(response(400, "GET", "/albums", problem={"title": "Invalid query parameter", "detail": "limit"})))

    def test_values_only_the_service_mints_and_header_patterns(self):
        cursor = {"title": "Invalid query parameter", "detail": "after: not a cursor of this list"}
        self.assertFalse(self.keep(response(400, "GET", "/albums", problem=cursor)))
        self.assertTrue(self.keep(response(400, "GET", "/albums", problem=cursor), code="ST201"))
        narrowed = case(headers={"If-Match": "0"}, operation_headers=[("If-Match", fuzz_hooks.IF_MATCH.pattern)])
        self.assertFalse(self.keep(response(400, "PATCH", f"/albums/{ALBUM}", problem={"title": "Invalid If-Match"}), sent_case=narrowed))

    def test_a_413_to_a_schema_violating_body_over_the_limit_is_dropped(self):
        too_large = {"title": "Body too large", "status": 413, "detail": "the body may hold at most 256 KiB"}
        big = {"title": "x" * (fuzz_hooks.BODY_LIMIT + 1)}
        self.assertFalse(self.keep(response(413, "POST", "/albums", body=big, problem=too_large), code="ST201"))
        # Not for a body within the limit, another check, or another answer.
        self.assertTrue(self.keep(response(413, "POST", "/albums", body={"title": "x"}, problem=too_large), code="ST201"))
        self.assertTrue(self.keep(response(413, "POST", "/albums", body=big, problem=too_large), code="ST101"))
        self.assertTrue(self.keep(response(400, "POST", "/albums", body=big, problem={"title": "Invalid body"}), code="ST201"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
