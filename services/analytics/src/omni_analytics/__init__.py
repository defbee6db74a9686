"""omni analytics: live contact-centre KPIs folded from the event stream, exported to Prometheus."""
