"""Long jobs that continue where they stopped (docs/replay.md, docs/loadgen.md: "Resuming")."""
