"""salesdash load generator: synthetic Black Friday traffic and event files, written to `orders`."""
