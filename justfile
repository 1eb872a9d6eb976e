# One-line recipes; the logic lives in `cargo xtask` (crates/xtask).

# Run the gateway on the embedded store with demo data.
run *ARGS:
    cargo xtask run {{ARGS}}

# Run every test, exactly as CI does.
test:
    cargo xtask test

# The Python venv the tests use (pymongo, pytest, localstripe).
venv:
    cargo xtask venv

# Format every crate.
fmt:
    cargo xtask fmt

# Clippy on every target; warnings are errors.
lint:
    cargo xtask lint

# Run the benchmarks.
bench:
    cargo xtask bench

# Regenerate schema.graphql from the code.
schema:
    cargo xtask schema
