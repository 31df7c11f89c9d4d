"""Consume topics into read models with exactly-once effects and a dead-letter topic."""

from shared.projection.runner import Projection, ProjectionRunner, RunnerStats

__all__ = ["Projection", "ProjectionRunner", "RunnerStats"]
