"""The audit: an independent recount of one UTC day from the raw `orders` records, in SQL (DuckDB), and
its comparison with what the dashboard shows. Shares nothing with the counting code but the rate table."""
