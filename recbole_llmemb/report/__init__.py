"""The comparison report: tables (markdown, CSV, JSON) and plots."""
