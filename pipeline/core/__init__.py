"""Shared machinery: run records, claims, config, device, seeding, checkpoints, training."""
