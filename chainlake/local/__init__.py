"""The local development stack, what `make up` starts: an embedded Postgres (localpg), the
devchain and its price feed, process supervision, the stack itself, the demo it installs and
`chainlake doctor`; with them a local S3 (SeaweedFS, for the tests and by hand) and `make
schema`. A face's helper, not the library floor: nothing in `chainlake/` outside this package
and the CLI imports it (tests/unit/test_layout.py)."""
