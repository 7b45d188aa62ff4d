"""The dispatcher: claims deliveries by priority, rate-limits routes, records results, escalates, hosts replies."""
