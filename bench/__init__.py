"""The Q1 benchmark: `make bench` (see `bench/run.sh`)."""
