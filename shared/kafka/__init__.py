"""Kafka plumbing shared by the relay and the projection runner."""
