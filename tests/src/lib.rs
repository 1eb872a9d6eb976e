//! The `e2e` package: end-to-end tests of PeerTest Hub live in `e2e/` as one test binary that
//! starts the real gateway and talks to it over HTTP. This library target is empty; it exists
//! because a package needs one.
