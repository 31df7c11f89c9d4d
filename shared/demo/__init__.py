"""``carecoord demo load``: a synthetic cohort loaded through the public HTTP APIs.

A client like any other: it mints tokens with the local stack's secret and calls the four
services over HTTP, never their code, so what it loads is exactly what a care team could
have recorded. Every patient follows an archetype (:mod:`.cohort`) chosen so that each risk
rule of the coordination service fires for some patients and for no control; every request
carries an Idempotency-Key derived from the cohort and the step, so a second run records
nothing new.
"""
