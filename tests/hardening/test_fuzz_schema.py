"""Schemathesis against the service's own OpenAPI schema, over real HTTP.

Every documented operation gets generated requests, valid and invalid (wrong types, missing
fields, odd query values). The schemathesis checks run, the schema-conformance ones included:
no 5xx, and every answer has a documented status, content type, headers and body shape.
"""

from __future__ import annotations

import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from service.app import create_app

from .helpers import assert_ready, make_settings

TIMEOUT_S = 20  # a timeout is a hang
# Multipart values are bytes on the wire, which blinds two checks there: a schema-valid "binary"
# file may still be no image (a documented 400/415), and a number generated where a file belongs
# arrives as a perfectly good file (a per-file error entry in a 200 answer).
MULTIPART_BLIND_CHECKS = [positive_data_acceptance, negative_data_rejection]

# The schema comes from an app that is never started (create_app loads nothing); the requests go
# to the live server. (schemathesis.pytest.from_fixture would fetch it from the server, but its
# lazy loader does not work with pytest 9.)
schema = schemathesis.openapi.from_dict(create_app(make_settings()).openapi())


@schema.parametrize()
def test_api_answers_generated_requests_as_documented(case: Case, shared_server: str) -> None:
    excluded = MULTIPART_BLIND_CHECKS if case.media_type == "multipart/form-data" else []
    case.call_and_validate(base_url=shared_server, timeout=TIMEOUT_S, excluded_checks=excluded)


def test_api_is_still_ready_after_the_schema_fuzzing(shared_server: str) -> None:
    assert_ready(shared_server)
