"""The Litestar REST API (DESIGN.md section 7). Filled by the query issue."""
