"""The `rolecall` command (main) and its ad-hoc SQL over snapshots (query, query_formats)."""
