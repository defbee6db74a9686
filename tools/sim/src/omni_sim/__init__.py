"""omni's traffic simulator: seeded customers and agents, ground truth, demo and fault suite."""
