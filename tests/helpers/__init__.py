"""Set-up shared by several test folders (integration, soak, bench)."""
