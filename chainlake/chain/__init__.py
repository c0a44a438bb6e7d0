"""Chain data: live ingest with reorgs, backfill and archive to Parquet, the unified hot/cold
views, and integrity checks (the devchain is part of the local stack: chainlake/local/). See
docs/chain.md."""
