"""Live streams for browsers: one Redis subscriber per process (`hub`), replay from the capped Redis
logs (`replay`), and the event sessions that join the two without gap or duplicate (`sessions`)."""
