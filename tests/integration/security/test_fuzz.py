"""Fuzzing: schemathesis generates requests from each service's own ``/openapi.json`` (valid
ones and, in negative mode, ones breaking the schema) and sends them to the four services
in-process, as a caller holding every role of the clinic whose patient has a medication course,
an episode with a session, an assessment and a flag. Path ids are drawn from those real ids,
another clinic's patient and what schemathesis invents (a clinic in a body or query from the
caller's and the invented), so routes reach their stored resources as well as their 404s; the
first valid request of each operation is sent once more without a token. Every answer must be
below 500 and conform to the document: a status code it lists, a content type it lists, a body
its response schema accepts.

The budget is fixed (a few examples per operation and mode, derandomized: the same requests on
every run), so a failure reproduces. Operations that delete (erasing an identity, cancelling an
export) run last, so the others meet what they delete.

Not fuzzed, on purpose:

* ``GET /v1/streams/flags``: an endless event stream; in-process it never completes, so no
  answer could be checked. Its parameters are the stream tests' business.
* Negative mode where only path ids could be broken: any string is a valid id.
* The directory's wait for an enrolment still on its way is off (the seeded patients are in
  every directory before the fuzzing starts): each invented patient id would wait it out.
* Rate limits are off: the fuzzer is one principal sending hundreds of requests on purpose
  (the limiter has tests of its own).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from security_support import ALL_ROLES, Seeded, Service, bearer, four_services, seed

# schemathesis's own strategies draw from `random`; Hypothesis warns about that on every run.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 5  # per operation and generation mode
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
SKIPPED = {("coordination", "GET", "/v1/streams/flags")}
PUBLIC_PATHS = {"/health", "/ready"}
CLINIC = "clinic-b"  # the clinic whose patient seed() gives a course, an episode and a flag
CALLER = bearer(*ALL_ROLES, clinics=(CLINIC,), sub="fuzzer")


@pytest.fixture
async def services(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str):  # type: ignore[no-untyped-def]
    async with four_services(pg_url, kafka_bootstrap, schema, namespace, rate_limit_per_second=0,
                             directory_miss_wait_seconds=0) as running:
        yield running


def _known_ids(seeded: Seeded, job_id: str) -> dict[str, list[str]]:
    """Real values for path parameters: the caller's own (clinic B's) resources first."""
    return {"patient_id": [seeded.other_patient, seeded.own_patient],
            "medication_id": [seeded.other_ids["medication_id"]],
            "episode_id": [seeded.other_ids["episode_id"]],
            "session_id": [seeded.other_ids["session_id"]],
            "flag_id": [seeded.other_ids["flag_id"]],
            "job_id": [job_id],
            "file_name": ["Patient.ndjson", "Observation.ndjson"]}


def _request(case: schemathesis.Case, headers: dict[str, str]) -> dict[str, Any]:
    """httpx arguments for a case, the body serialised here: a NaN or a lone surrogate must
    reach the service as the fuzzer meant it, not be refused by the client."""
    kwargs = case.as_transport_kwargs(base_url="http://test", headers=headers)
    request: dict[str, Any] = {"method": kwargs["method"], "url": kwargs["url"], "headers": kwargs["headers"],
                               "params": kwargs.get("params")}
    if "json" in kwargs:
        request["content"] = json.dumps(kwargs["json"]).encode("utf-8", "surrogatepass")
        request["headers"].setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        request["content"] = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")
    return request


def _modes(operation: schemathesis.APIOperation) -> tuple[schemathesis.GenerationMode, ...]:
    """Negative mode where there is something to break: a body or a query or header parameter.
    A path id is any string, so it has no invalid value; searching for one only costs time."""
    raw = operation.definition.raw
    negatable = "requestBody" in raw or any(p.get("in") != "path" for p in raw.get("parameters", []))
    return MODES if negatable else MODES[:1]


def _failure_text(exc: BaseException) -> list[str]:
    failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
    return [f"{type(f).__name__}: {getattr(f, 'title', '')} — {str(f).splitlines()[0] if str(f) else ''}"
            for f in failures]


@dataclass
class Outcome:
    """What one operation's examples found: distinct failures (each with a request showing
    it) and the statuses seen."""

    failures: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)


def _fuzz(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, known: dict[str, list[str]],
          send: Callable[[dict[str, Any]], httpx.Response], outcome: Outcome) -> None:
    """Run one operation's examples (in a worker thread: ``send`` waits on the test's loop).
    The first valid example is also sent without a token: that refusal must be documented too."""
    unauthenticated = mode is schemathesis.GenerationMode.POSITIVE and operation.path not in PUBLIC_PATHS

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        nonlocal unauthenticated
        for name, value in list((case.path_parameters or {}).items()):
            if name in known:
                case.path_parameters[name] = data.draw(st.sampled_from([*known[name], value]))
        # the caller's clinic where a body or a query names one, or what was generated
        for values, name in ((case.body, "clinic_id"), (case.query, "clinic")):
            if isinstance(values, dict) and isinstance(values.get(name), str):
                values[name] = data.draw(st.sampled_from([CLINIC, values[name]]))
        callers = [CALLER, {}] if unauthenticated else [CALLER]
        for headers in callers:
            request = _request(case, headers)
            try:
                response = send(request)
            except httpx.InvalidURL:
                reject()  # no client sends it (a query string past 64 KiB, say); nor does the fuzzer
            unauthenticated = False
            outcome.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Failure, FailureGroup) as exc:
                for text in _failure_text(exc):
                    outcome.failures.setdefault(
                        f"{text} [{response.status_code}]",
                        f"{request['method']} {response.request.url} {request.get('content', b'')[:300]!r} "
                        f"→ {response.text[:300]}")

    try:
        run()
    except Unsatisfiable:
        if mode is schemathesis.GenerationMode.POSITIVE:
            raise


async def test_every_operation_fuzzed(services: dict[str, Service]) -> None:
    seeded = await seed(services)
    coordination = services["coordination"].http
    export = await coordination.get("/v1/fhir/$export", params={"clinic": CLINIC}, headers=CALLER)
    assert export.status_code == 202, export.text
    known = _known_ids(seeded, export.headers["Content-Location"].rstrip("/").rsplit("/", 1)[-1])
    loop = asyncio.get_running_loop()
    operations: list[tuple[str, schemathesis.APIOperation]] = []
    for name, service in services.items():
        api = schemathesis.openapi.from_dict((await service.http.get("/openapi.json")).json())
        operations += [(name, result.ok()) for result in api.get_all_operations()
                       if (name, result.ok().method.upper(), result.ok().path) not in SKIPPED]
    assert {name for name, _ in operations} == set(services) and len(operations) > 40, "operations lost"
    # Erasing the identity and cancelling the export last, so the others meet what they delete.
    operations.sort(key=lambda item: item[1].method.upper() == "DELETE")
    outcomes: dict[str, Outcome] = {}
    started = time.monotonic()
    for name, operation in operations:
        http = services[name].http

        def send(request: dict[str, Any], http: httpx.AsyncClient = http) -> httpx.Response:
            return asyncio.run_coroutine_threadsafe(http.request(**request), loop).result(timeout=60)

        outcome = outcomes[f"{name} {operation.method.upper()} {operation.path}"] = Outcome()
        for mode in _modes(operation):
            await asyncio.to_thread(_fuzz, operation, mode, known, send, outcome)
    seconds = time.monotonic() - started
    sent = sum(sum(o.statuses.values()) for o in outcomes.values())
    print(f"{len(outcomes)} operations, {sent} requests in {seconds:.1f} s")
    problems = [f"{label}: {failure}\n    {request}" for label, outcome in outcomes.items()
                for failure, request in outcome.failures.items()]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    # The budget reached stored resources, not only 404s and 422s: the seeded ids were used.
    reached = [label for label, outcome in outcomes.items() if any(200 <= s < 300 for s in outcome.statuses)]
    assert len(reached) >= 30, f"only {len(reached)} operations ever answered 2xx: {reached}"
