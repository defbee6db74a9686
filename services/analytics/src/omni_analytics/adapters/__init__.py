"""Thin edges of the analytics service: PostgreSQL checkpoints, Kafka partitions, Prometheus export."""
