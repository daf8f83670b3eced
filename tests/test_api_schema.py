"""The API against its own OpenAPI document, with schemathesis: generated requests to every
operation never get a server error, and every answer matches the document.

Driven with hypothesis directly (schemathesis' pytest plugin does not run on pytest 9)."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance


def _exercise(operation, token: str, seen: dict) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def keeps_to_the_document(case):
        # Every check but "schema-valid data is accepted": rules the document cannot say
        # (an end after the start, a person who exists) refuse such data, rightly, with 400.
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"},
            excluded_checks=[positive_data_acceptance],
        )
        seen.setdefault(operation.label, set()).add(response.status_code)

    keeps_to_the_document()


def test_every_operation_keeps_to_the_document(app, db, now, make_user, make_volunteer):
    from app.people import api_tokens

    make_volunteer(points=50)
    token = api_tokens.create(make_user(kind="admin"), name="schemathesis", actor=None, now=now)[1]
    db.session.commit()  # as a real request would find it (a refused request rolls back)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 27

    seen: dict[str, set[int]] = {}
    for operation in operations:
        _exercise(operation, token, seen)
    assert set(seen) == {operation.label for operation in operations}
    # The token was taken: not everything was refused (boards of people are always answered).
    assert 200 in seen["GET /api/v1/rankings"]
