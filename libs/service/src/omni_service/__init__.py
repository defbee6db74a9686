"""The shared runtime of omni's services: one way to start, configure, log, consume, publish and serve."""
