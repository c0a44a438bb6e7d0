"""Chain data: the devchain, live ingest with reorgs, backfill and archive to Parquet, the unified
hot/cold views, and integrity checks. See docs/chain.md."""
