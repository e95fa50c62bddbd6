"""One construct per concern of the diagram in DESIGN.md; `infra.stack` wires them together."""
