//! Project tasks, written in Rust so they run the same on every machine: `cargo xtask <task>`.
//!
//! `test` is exactly what CI runs (`.ci/run` calls it): it prepares the Python tools the tests
//! need, then every Rust test in the workspace, then the embedded store's pymongo suite, then one
//! summary line. The `justfile` only calls these.
//!
//! The Python tools live in one venv, `target/pymongo-venv`: pymongo and pytest for the embedded
//! store's suite, localstripe (a fake Stripe server) for escrow's Stripe provider tests, which
//! find it through `LOCALSTRIPE_PYTHON`, and aiosmtpd (an SMTP server) for the end-to-end e-mail
//! tests, which use the same Python. graphql-js and the graphql-ws client (npm, pinned in
//! `tests/graphql-js`) are installed into `target/graphql-js` for the end-to-end introspection
//! and subscription tests, which find them through `GRAPHQL_JS_MODULES`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  test            every test: prepares the Python venv, cargo test --workspace --no-fail-fast,
                  then the pymongo suite; prints a summary
  venv            create target/pymongo-venv with pymongo, pytest, localstripe and aiosmtpd
                  (what the escrow Stripe tests, the e-mail tests and the pymongo suite need;
                  `test` does it too)
  node            install graphql-js and graphql-ws (tests/graphql-js, npm ci) into
                  target/graphql-js and print the GRAPHQL_JS_MODULES the introspection and
                  subscription tests need (`test` does it too)
  schema          write schema.graphql from the code
  schema --check  fail if schema.graphql differs from the code
  run [ARGS]      run the gateway on the embedded store with demo data (extra ARGS go to it)
  fmt [--check]   format every crate
  lint            clippy on every target, warnings are errors
  bench           run the workspace's benchmarks";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("test") => test(),
        Some("venv") => python_venv().map(|venv| {
            println!("xtask: python venv ready in {}", venv.display());
        }),
        Some("node") => graphql_js().map(|modules| {
            println!("export {GRAPHQL_JS_MODULES}={}", modules.display());
        }),
        Some("schema") => schema(arguments.get(1).map(String::as_str) == Some("--check")),
        Some("run") => run(&arguments[1..]),
        Some("fmt") => fmt(arguments.get(1).map(String::as_str) == Some("--check")),
        Some("lint") => lint(),
        // The subscribers benchmark runs a second instance as the release binary.
        Some("bench") => cargo(&["build", "--release", "-p", "gateway", "--bin", "gateway"])
            .and_then(|()| cargo(&["bench", "--workspace"])),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives in `crates/xtask`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo_command() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn cargo(arguments: &[&str]) -> anyhow::Result<()> {
    let status = cargo_command()
        .args(arguments)
        .status()
        .with_context(|| format!("starting cargo {}", arguments.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", arguments.join(" "));
    }
    Ok(())
}

fn run(extra: &[String]) -> anyhow::Result<()> {
    let mut arguments = vec!["run", "--release", "-p", "gateway", "--", "--demo"];
    arguments.extend(extra.iter().map(String::as_str));
    cargo(&arguments)
}

fn fmt(check: bool) -> anyhow::Result<()> {
    if check {
        cargo(&["fmt", "--all", "--", "--check"])
    } else {
        cargo(&["fmt", "--all"])
    }
}

fn lint() -> anyhow::Result<()> {
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])
}

fn schema(check: bool) -> anyhow::Result<()> {
    let path = workspace_root().join("schema.graphql");
    let generated = graphql::schema_sdl();
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            bail!("schema.graphql is stale: run `cargo xtask schema` and commit it");
        }
        println!("schema.graphql is up to date");
        return Ok(());
    }
    std::fs::write(&path, generated).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Test counts gathered from the runners' own summary lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// Reads the number before `word` in a summary line such as `12 passed; 0 failed`.
fn count_before(line: &str, word: &str) -> u64 {
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|pair| pair[1] == word)
        .filter_map(|pair| pair[0].parse::<u64>().ok())
        .sum()
}

/// Parses one line of `cargo test` output (`test result: ok. 3 passed; 0 failed; 1 ignored; ...`).
fn cargo_test_line(line: &str) -> Option<Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    Some(Tally {
        passed: count_before(rest, "passed"),
        failed: count_before(rest, "failed"),
        skipped: count_before(rest, "ignored"),
    })
}

/// Parses pytest's final line (`=== 3 passed, 1 skipped in 0.12s ===` or, with `-q`,
/// `3 passed, 1 skipped in 0.12s`).
fn pytest_line(line: &str) -> Option<Tally> {
    let line = line.trim().trim_matches('=').trim();
    if !line.contains(" in ") {
        return None;
    }
    let tally = Tally {
        passed: count_before(line, "passed"),
        failed: count_before(line, "failed")
            + count_before(line, "error")
            + count_before(line, "errors"),
        skipped: count_before(line, "skipped") + count_before(line, "xfailed"),
    };
    (tally != Tally::default()).then_some(tally)
}

/// Runs `command`, echoing its output as it comes, and returns its exit status and the tally
/// read from its summary lines.
fn run_and_tally(
    mut command: Command,
    parse: fn(&str) -> Option<Tally>,
) -> anyhow::Result<(std::process::ExitStatus, Tally)> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a test runner")?;
    let mut tally = Tally::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading test output")?;
            println!("{line}");
            if let Some(counts) = parse(&line) {
                tally.add(counts);
            }
        }
    }
    Ok((child.wait()?, tally))
}

fn test() -> anyhow::Result<()> {
    let mut total = Tally::default();
    let mut failures: Vec<String> = Vec::new();

    // Escrow's Stripe tests start localstripe from the venv; they fail (never skip) without it,
    // so it is installed before any test runs.
    let venv = python_venv()?;
    // The introspection tests run graphql-js; they fail (never skip) without it.
    let graphql_js_modules = graphql_js()?;

    println!("xtask: cargo test --workspace --no-fail-fast");
    let mut command = cargo_command();
    // Without --no-fail-fast cargo stops at the first failing test binary and the summary would
    // leave out every binary after it.
    command
        .args(["test", "--workspace", "--no-fail-fast"])
        .env(LOCALSTRIPE_PYTHON, venv_python(&venv))
        .env(GRAPHQL_JS_MODULES, &graphql_js_modules);
    let (status, tally) = run_and_tally(command, cargo_test_line)?;
    total.add(tally);
    if !status.success() {
        failures.push(format!("cargo test --workspace ({status})"));
    }

    match pymongo_suite()? {
        PymongoOutcome::Ran { succeeded, tally } => {
            total.add(tally);
            if !succeeded {
                failures.push("pymongo suite".to_string());
            }
        }
        PymongoOutcome::Missing(directory) => println!(
            "xtask: SKIPPED the pymongo suite: {} does not exist yet",
            directory.display()
        ),
    }

    println!();
    println!(
        "summary: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    if !failures.is_empty() {
        bail!("failed: {}", failures.join("; "));
    }
    if total.passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

enum PymongoOutcome {
    Ran { succeeded: bool, tally: Tally },
    Missing(PathBuf),
}

/// Runs the embedded store's compatibility suite with pymongo against the real binary.
fn pymongo_suite() -> anyhow::Result<PymongoOutcome> {
    let root = workspace_root();
    let suite = root.join("crates/embedded-mongo/tests/pymongo");
    if !suite.is_dir() {
        return Ok(PymongoOutcome::Missing(suite));
    }
    println!("xtask: pymongo suite in {}", suite.display());
    let python = venv_python(&python_venv()?);

    cargo(&["build", "-p", "embedded-mongo", "--bin", "embedded-mongo"])?;
    let binary = target_dir().join("debug/embedded-mongo");
    if !binary.exists() {
        bail!("built embedded-mongo but {} is missing", binary.display());
    }

    let mut command = Command::new(&python);
    command
        .args(["-m", "pytest", "-q"])
        .current_dir(&suite)
        .env("EMBEDDED_MONGO_BIN", &binary);
    let (status, tally) = run_and_tally(command, pytest_line)?;
    // pytest exits 5 when it collected nothing: report it, but an empty suite is not a failure.
    if status.code() == Some(5) {
        println!("xtask: the pymongo suite collected no tests");
        return Ok(PymongoOutcome::Ran {
            succeeded: true,
            tally,
        });
    }
    Ok(PymongoOutcome::Ran {
        succeeded: status.success(),
        tally,
    })
}

/// The environment variable naming the `node_modules` folder holding graphql-js (read by the
/// end-to-end introspection tests).
const GRAPHQL_JS_MODULES: &str = "GRAPHQL_JS_MODULES";

/// Installs graphql-js as pinned by `tests/graphql-js/package-lock.json` into
/// `target/graphql-js` with `npm ci`, skipping npm when the lock has not changed since the last
/// install; returns the `node_modules` folder. Fails, rather than skipping, when npm cannot.
fn graphql_js() -> anyhow::Result<PathBuf> {
    let source = workspace_root().join("tests/graphql-js");
    let install = target_dir().join("graphql-js");
    std::fs::create_dir_all(&install).with_context(|| format!("creating {}", install.display()))?;
    let mut wanted = String::new();
    for file in ["package.json", "package-lock.json"] {
        let text = std::fs::read_to_string(source.join(file))
            .with_context(|| format!("reading tests/graphql-js/{file}"))?;
        std::fs::write(install.join(file), &text)
            .with_context(|| format!("copying {file} into {}", install.display()))?;
        wanted.push_str(&text);
    }
    let modules = install.join("node_modules");
    let stamp = install.join("installed-lock.json");
    if modules.join("graphql/package.json").exists()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
    {
        return Ok(modules);
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(&install)
        .status()
        .context(
            "starting npm (Node.js 18 or later and npm are needed for the introspection tests)",
        )?;
    if !status.success() {
        bail!("npm ci in {} failed", install.display());
    }
    std::fs::write(&stamp, &wanted).context("recording the installed lock")?;
    Ok(modules)
}

/// The environment variable naming the Python that can run localstripe (read by `stripe-fake`,
/// which escrow's and the end-to-end tests use).
const LOCALSTRIPE_PYTHON: &str = "LOCALSTRIPE_PYTHON";

/// Every requirements file the venv is built from: the pymongo suite's, `stripe-fake`'s
/// (localstripe, pinned there) and the end-to-end e-mail tests' (aiosmtpd, the SMTP server they
/// start on loopback).
const PYTHON_REQUIREMENTS: &[&str] = &[
    "crates/embedded-mongo/tests/pymongo/requirements.txt",
    "crates/stripe-fake/localstripe-requirements.txt",
    "tests/e2e/smtp-requirements.txt",
];

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin/python")
}

/// Creates `target/pymongo-venv` if needed and installs every file of [`PYTHON_REQUIREMENTS`]
/// into it; returns the venv. Fails, rather than skipping, when Python or pip cannot.
fn python_venv() -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let venv = root.join("target/pymongo-venv");
    let python = venv_python(&venv);
    if !python.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("starting python3 -m venv")?;
        if !status.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
    }
    let mut wanted = String::new();
    for file in PYTHON_REQUIREMENTS {
        let path = root.join(file);
        wanted.push_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        );
        // A file without a final newline must not glue its last line to the next file's first.
        if !wanted.ends_with('\n') {
            wanted.push('\n');
        }
    }
    install_requirements(&python, &wanted, &venv)?;
    Ok(venv)
}

/// Installs `wanted` (requirements-file lines), skipping pip when they have not changed since
/// last time.
fn install_requirements(python: &Path, wanted: &str, venv: &Path) -> anyhow::Result<()> {
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted) {
        return Ok(());
    }
    let requirements = venv.join("requirements.txt");
    std::fs::write(&requirements, wanted).context("writing the venv's requirements")?;
    let status = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements)
        .status()
        .context("starting pip")?;
    if !status.success() {
        bail!("pip install -r {} failed", requirements.display());
    }
    std::fs::write(&stamp, wanted).context("recording installed requirements")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_test_summary_lines_are_counted() {
        let tally = cargo_test_line(
            "test result: ok. 12 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.31s",
        );
        assert_eq!(
            tally,
            Some(Tally {
                passed: 12,
                failed: 0,
                skipped: 2
            })
        );
        assert_eq!(cargo_test_line("running 12 tests"), None);
    }

    #[test]
    fn pytest_summary_lines_are_counted() {
        assert_eq!(
            pytest_line("3 failed, 40 passed, 2 skipped in 1.52s"),
            Some(Tally {
                passed: 40,
                failed: 3,
                skipped: 2
            })
        );
        assert_eq!(
            pytest_line("============ 7 passed in 0.12s ============"),
            Some(Tally {
                passed: 7,
                failed: 0,
                skipped: 0
            })
        );
        assert_eq!(pytest_line("collected 7 items"), None);
    }
}
