"""The pages' server side without a browser: local sign-in only where switched on, the token it
signs, the name look-up's gate, the pages' security headers and the vendored files."""

from __future__ import annotations

from typing import Any

from services.coordination.app import create_app
from services.coordination.settings import CoordinationSettings
from shared.auth import AuthConfig, verify_token
from tests.support.services import TEST_SECRET, make_settings, running, token


def settings(pg_url: str, kafka: str, schema: str, namespace: str, **ui: Any) -> CoordinationSettings:
    base = make_settings("coordination", pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace)
    return CoordinationSettings(**{**base.model_dump(), **ui})


async def test_without_the_switch_the_pages_ask_for_a_token_from_the_identity_provider(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    async with running(create_app, settings(pg_url, kafka_bootstrap, schema, namespace)) as (_, client):
        page = await client.get("/ui/sign-in")
        assert page.status_code == 200
        assert "identity provider" in page.text and 'id="local-sign-in"' not in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["referrer-policy"] == "no-referrer"

        minted = await client.post("/ui/api/local-token", json={
            "staff_id": "someone", "roles": ["admin"], "clinics": ["clinic-a"]})
        assert minted.status_code == 404

        home = await client.get("/ui", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == "/ui/worklist"
        for path in ("/ui/worklist", "/ui/patients/p-1"):
            shell = await client.get(path)
            assert shell.status_code == 200 and '<script type="module"' in shell.text
        d3 = await client.get("/ui/static/vendor/d3/d3.min.js")
        assert d3.status_code == 200 and d3.text.startswith("// https://d3js.org v7.9.2")
        assert (await client.get("/ui/static/vendor/d3/LICENSE")).status_code == 200

        anonymous = await client.get("/ui/api/patient-names", params={"id": "p-1"})
        assert anonymous.status_code == 401
        dashboard = await client.get("/ui/api/patient-names", params={"id": "p-1"},
                                     headers=token("dashboard", clinics=("clinic-a",)))
        # A role that may not see identity gets no name, and assessment is not asked.
        assert dashboard.json() == {"names": {"p-1": None}, "identity_visible": False}
        refused = await client.get("/ui/api/patient-names", params={"id": "../../v1/rules"},
                                   headers=token("coordinator", clinics=("clinic-a",)))
        assert refused.status_code == 422


async def test_the_local_stack_signs_a_token_for_the_chosen_roles_and_clinics(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    s = settings(pg_url, kafka_bootstrap, schema, namespace, ui_local_sign_in=True)
    async with running(create_app, s) as (_, client):
        page = await client.get("/ui/sign-in")
        assert 'id="local-sign-in"' in page.text

        minted = await client.post("/ui/api/local-token", json={
            "staff_id": "dr-local", "roles": ["therapist", "coordinator"], "clinics": ["clinic-b", "clinic-a"]})
        assert minted.status_code == 200, minted.text
        body = minted.json()
        principal = verify_token(body["access_token"], AuthConfig(algorithm="HS256", hs256_secret=TEST_SECRET))
        assert principal.staff_id == "dr-local"
        assert {r.value for r in principal.roles} == {"therapist", "coordinator"}
        assert principal.clinic_ids == {"clinic-a", "clinic-b"}
        assert body["expires_in"] <= 12 * 3600
        worklist = await client.get("/v1/flags", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert worklist.status_code == 200

        unknown_role = await client.post("/ui/api/local-token", json={
            "staff_id": "x", "roles": ["superuser"], "clinics": ["clinic-a"]})
        assert unknown_role.status_code == 422
        # A form post (what another site's page could send without asking) is not accepted.
        form = await client.post("/ui/api/local-token", data={"staff_id": "x", "roles": "admin",
                                                              "clinics": "clinic-a"})
        assert form.status_code in (415, 422)
