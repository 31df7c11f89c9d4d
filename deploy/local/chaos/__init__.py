"""``make chaos``: the platform on a three-broker cluster, a cohort sent through the HTTP APIs,
faults on a schedule, then checks in the manner of Kafka's TransactionsTest (set equality by
event id, nothing twice, every stream contiguous, a clean replay equal to the live read models).

- :mod:`.platform` starts the cluster, fresh databases and the four services (supervised);
- :mod:`.proxy` is the TCP proxy between one service and Kafka that the network cut uses;
- :mod:`.load` sends the cohort and keeps the ledger of what was acknowledged;
- :mod:`.faults` injects the faults and times each recovery;
- :mod:`.poison` writes malformed, unknown-type and oversized records onto the input topics;
- :mod:`.checks` reads everything back and says what holds;
- :mod:`.run` puts them together and writes the report.
"""
