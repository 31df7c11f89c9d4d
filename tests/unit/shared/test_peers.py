"""/ready's peers: the upstream services are those whose topics a service's consumers read,
and their entries are the supervisor's, as it wrote them."""

from __future__ import annotations

import json
from pathlib import Path

from shared.peers import peers_entry, read_status, upstream_services


def test_upstream_services_are_the_owners_of_the_topics_read_other_than_oneself() -> None:
    topics = ["ns1.carecoord.assessment.events.v1", "ns1.carecoord.pharmacy.events.v1",
              "ns1.carecoord.therapy.events.v1", "ns1.carecoord.coordination.events.v1",
              "carecoord.pharmacy.events.v1.dlq", "something.else"]
    assert upstream_services(topics, "coordination") == ["assessment", "pharmacy", "therapy"]
    assert upstream_services(["carecoord.assessment.events.v1"], "pharmacy") == ["assessment"]
    assert upstream_services([], "assessment") == []


def test_the_entries_of_upstream_services_only_and_unknown_for_one_not_supervised() -> None:
    status = {"written_at": "2027-01-15T08:00:10+00:00", "supervisor_pid": 7, "services": {
        "assessment": {"state": "running", "pid": 41, "started_at": "2027-01-15T08:00:09+00:00", "restarts": 1,
                       "last_exit": {"at": "2027-01-15T08:00:08+00:00", "code": -9}, "extra": "not shown"},
        "coordination": {"state": "running", "pid": 44, "restarts": 0, "last_exit": None}}}
    entry = peers_entry(status, ["assessment", "therapy"])
    assert entry == {"source": "supervisor", "written_at": "2027-01-15T08:00:10+00:00", "services": {
        "assessment": {"state": "running", "pid": 41, "started_at": "2027-01-15T08:00:09+00:00", "restarts": 1,
                       "last_exit": {"at": "2027-01-15T08:00:08+00:00", "code": -9}},
        "therapy": {"state": "unknown"}}}


def test_an_unreadable_file_is_said_and_a_malformed_one_gives_unknowns(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert read_status(path) is None
    path.write_text('{"services": ')
    assert read_status(path) is None
    path.write_text("[1, 2]")
    assert read_status(path) is None
    assert peers_entry(None, ["assessment"]) == {"source": "supervisor", "error": "status unreadable", "services": {}}
    path.write_text(json.dumps({"services": ["not", "a", "mapping"]}))
    assert peers_entry(read_status(path), ["assessment"])["services"] == {"assessment": {"state": "unknown"}}
