"""docs/asyncapi.yaml: what the event models generate today, a well-formed AsyncAPI 3.0
document whose every reference resolves, and a true description of what a service publishes
(a real event's record validates against its message; a wrong one does not)."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import jsonschema
import pytest
import yaml

from deploy import asyncapi
from deploy.asyncapi import OUTPUT, build_document, render
from shared.envelope import Metadata, event_type, new_envelope
from shared.events import DomainEvent
from shared.kafka.headers import encode
from shared.services import SERVICES
from tests.unit.pharmacy.builders import PATIENT, started

DOC: dict[str, Any] = yaml.safe_load(OUTPUT.read_text(encoding="utf-8"))
PUBLISHED = {"carecoord.assessment.events.v1", "carecoord.pharmacy.events.v1", "carecoord.therapy.events.v1",
             "carecoord.coordination.events.v1", "carecoord.coordination.flags.v1"}
# Fields the AsyncAPI 3.0.0 specification defines for each object (no extensions are used).
ROOT_FIELDS = {"asyncapi", "id", "info", "servers", "defaultContentType", "channels", "operations", "components"}
CHANNEL_FIELDS = {"address", "messages", "title", "summary", "description", "servers", "parameters", "tags",
                  "externalDocs", "bindings"}
OPERATION_FIELDS = {"action", "channel", "title", "summary", "description", "security", "tags", "externalDocs",
                    "bindings", "traits", "messages", "reply"}
MESSAGE_FIELDS = {"headers", "payload", "correlationId", "contentType", "name", "title", "summary", "description",
                  "tags", "externalDocs", "bindings", "examples", "traits"}
COMPONENT_FIELDS = {"schemas", "servers", "channels", "operations", "messages", "securitySchemes",
                    "serverVariables", "parameters", "correlationIds", "replies", "replyAddresses", "externalDocs",
                    "tags", "operationTraits", "messageTraits", "serverBindings", "channelBindings",
                    "operationBindings", "messageBindings"}
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def validator(ref: str) -> jsonschema.Draft7Validator:
    """A validator of the schema at ``ref``, its own references resolved inside the document."""
    return jsonschema.Draft7Validator({"$ref": ref, "components": DOC["components"]})


def test_the_committed_document_is_what_the_models_generate() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(build_document()), \
        "docs/asyncapi.yaml is out of date: run `make docs`"


def test_it_is_an_asyncapi_3_document_with_only_the_fields_the_specification_defines() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert set(DOC) <= ROOT_FIELDS
    assert DOC["info"]["title"] and DOC["info"]["version"]
    assert all({"host", "protocol"} <= set(server) for server in DOC["servers"].values())
    assert set(DOC["components"]) <= COMPONENT_FIELDS
    for kind, entries in DOC["components"].items():
        assert all(COMPONENT_KEY.match(key) for key in entries), kind
    for channel in DOC["channels"].values():
        assert set(channel) <= CHANNEL_FIELDS and "address" in channel
    for operation in DOC["operations"].values():
        assert set(operation) <= OPERATION_FIELDS and operation["action"] in ("send", "receive")
    for message in DOC["components"]["messages"].values():
        assert set(message) <= MESSAGE_FIELDS and {"name", "headers", "payload", "bindings"} <= set(message)


def test_every_reference_resolves() -> None:
    refs = list(references(DOC))
    assert len(refs) > 100
    for ref in refs:
        resolve(ref)


def test_every_channel_message_is_a_component_and_each_is_sent_by_its_channel_operation() -> None:
    for name, channel in DOC["channels"].items():
        assert all(m["$ref"].startswith("#/components/messages/") for m in channel["messages"].values())
        operations = [op for op in DOC["operations"].values() if op["channel"]["$ref"] == f"#/channels/{name}"]
        assert operations, f"nothing sends on {name}"
        sent = [m["$ref"] for op in operations for m in op["messages"]]
        assert sorted(sent) == sorted(f"#/channels/{name}/messages/{m}" for m in channel["messages"])
        assert set(re.findall(r"{(\w+)}", channel["address"])) == set(channel.get("parameters", {}))


def test_every_topic_carecoord_publishes_is_described_with_its_dead_letters() -> None:
    addresses = {channel["address"] for channel in DOC["channels"].values()}
    assert addresses == PUBLISHED | {"{topic}.dlq"}
    assert set(DOC["channels"]["deadLetters"]["parameters"]["topic"]["enum"]) == PUBLISHED
    flags = DOC["channels"]["coordinationFlags"]["messages"]
    assert all(name.startswith("RiskFlag") for name in flags)


def test_every_event_a_service_lists_or_registers_has_its_message_on_its_topic() -> None:
    messages = DOC["components"]["messages"]
    for service in SERVICES:
        domain = importlib.import_module(f"services.{service}.domain")
        handlers = importlib.import_module(f"services.{service}.handlers")
        listed = [m for name, value in vars(domain).items() if name.endswith("_EVENT_TYPES") for m in value]
        assert listed, service
        for model in listed:
            message = messages[f"{service}.{model.event_name}"]
            kind = event_type(service, model.event_name, model.version)
            assert message["headers"]["allOf"][1]["properties"]["ce_type"]["const"] == kind
            payload = resolve(message["payload"]["$ref"])
            assert set(payload["properties"]) == set(model.model_fields)
        if hasattr(handlers, "registry"):
            registry = handlers.registry()
            listed_types = {event_type(service, m.event_name, m.version) for m in listed}
            for key, message in messages.items():
                if key.startswith(f"{service}."):
                    kind = message["headers"]["allOf"][1]["properties"]["ce_type"]["const"]
                    assert kind in listed_types or registry.knows(kind), key


def test_an_event_only_the_registry_knows_is_picked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    class RiskFlagReopened(DomainEvent):  # as if coordination had registered a new flag event
        event_name: ClassVar[str] = "RiskFlagReopened"
        flag_id: str

    RiskFlagReopened.__module__ = "services.coordination.domain.flag_events"
    handlers = importlib.import_module("services.coordination.handlers")
    registry = handlers.registry()
    registry.register("coordination", RiskFlagReopened)
    monkeypatch.setattr(handlers, "registry", lambda: registry)
    document = build_document()
    assert "RiskFlagReopened" in document["channels"]["coordinationFlags"]["messages"]
    assert "RiskFlagReopened" not in document["channels"]["coordinationEvents"]["messages"]
    assert document["components"]["schemas"]["coordination.RiskFlagReopened"]["required"] == [
        "occurred_at", "flag_id"]


def test_every_schema_is_json_schema_that_asyncapis_default_format_reads() -> None:
    for schema in DOC["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)
    for message in DOC["components"]["messages"].values():
        jsonschema.Draft7Validator.check_schema(message["headers"])
    # Keywords of later drafts than the AsyncAPI schema format (a superset of draft 07) knows.
    text = json.dumps(DOC)
    for keyword in ("prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentSchemas", "$dynamicRef"):
        assert f'"{keyword}"' not in text, keyword


def test_a_real_record_matches_its_message_and_a_wrong_one_does_not() -> None:
    event = started()
    envelope = new_envelope("pharmacy", "medication-med-0001", event, subject=PATIENT, clinic_id="clinic-a",
                            metadata=Metadata(actor="staff-12", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"))
    key, value, raw = encode(envelope.stored(1, datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC), b"", 1))
    headers = {name: v.decode() for name, v in raw}
    payload = json.loads(value)
    ref = "#/components/messages/pharmacy.MedicationStarted"
    message = resolve(ref)
    validator(message["payload"]["$ref"]).validate(payload)
    jsonschema.Draft7Validator({**message["headers"], "components": DOC["components"]}).validate(headers)
    assert key.decode() == headers["ce_partitionkey"] == PATIENT
    wrong_type = {**headers, "ce_type": "carecoord.pharmacy.DoseAdjusted.v1"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator({**message["headers"], "components": DOC["components"]}).validate(wrong_type)
    with pytest.raises(jsonschema.ValidationError):
        validator(message["payload"]["$ref"]).validate({**payload, "dose": "fifty"})
    with pytest.raises(jsonschema.ValidationError):
        validator(message["payload"]["$ref"]).validate({**payload, "patient_name": "Jane"})


def test_a_header_the_codec_writes_without_a_description_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncapi, "HEADERS", {k: v for k, v in asyncapi.HEADERS.items() if k != "ce_clinicid"})
    with pytest.raises(SystemExit, match="ce_clinicid"):
        build_document()
