"""omni SLA service: business-hours clocks with warnings, breaches and met targets, emitted exactly once."""
