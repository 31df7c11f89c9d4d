"""The services of the platform and their ports: one list for the CLI, the local stack
and the compose file's documentation."""

SERVICES: dict[str, int] = {"assessment": 8001, "pharmacy": 8002, "therapy": 8003, "coordination": 8004}
