"""salesdash stream processing: the pure counting core and the faust worker that runs it."""
