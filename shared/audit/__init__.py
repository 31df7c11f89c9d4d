"""Tamper evidence for the event stores: signed checkpoints of every stream's chain head and
a verifier that checks chains, checkpoints and the topic against each other."""
