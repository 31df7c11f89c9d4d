"""The auditors' side of coordination: reads as of a moment, every event about a patient with
its chain verified, flags explained, and the access log merged across the services."""
