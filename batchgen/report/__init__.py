"""The report room: a summary read from the journal, and its views (json, csv, html, comparison)."""
