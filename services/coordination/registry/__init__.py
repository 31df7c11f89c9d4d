"""The caseload registry and the care-process quality measures (pure definitions in
``measures``; the HTTP side in ``api``)."""
