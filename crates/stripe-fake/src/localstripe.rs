//! [`Localstripe`]: the localstripe server as a child process on a free loopback port.

use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming a Python that can run localstripe (`cargo xtask test` sets it).
pub const LOCALSTRIPE_PYTHON: &str = "LOCALSTRIPE_PYTHON";

/// Starts localstripe's aiohttp app bound to 127.0.0.1 only (its own command line listens on every
/// interface) with an empty store kept in memory only (it otherwise rewrites one shared file in
/// `/tmp` on every change, which parallel tests would fight over).
const LOCALSTRIPE_BOOTSTRAP: &str = "import sys\n\
from aiohttp import web\n\
from localstripe.resources import store\n\
from localstripe.server import app\n\
store.dump_to_disk = lambda: None\n\
web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None, access_log=None)\n";

/// A running localstripe, stopped when dropped.
pub struct Localstripe {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Localstripe {
    /// Starts localstripe on a free loopback port and waits until it answers. Panics with what to
    /// do when it cannot: these tests never skip.
    pub fn start() -> Self {
        let python = localstripe_python();
        let port = StdTcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(&python)
            .args(["-c", LOCALSTRIPE_BOOTSTRAP])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start localstripe with {}: {error}",
                    python.display()
                )
            });
        let mut localstripe = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(localstripe.address).is_err() {
            if let Ok(Some(status)) = localstripe.child.try_wait() {
                panic!(
                    "localstripe exited ({status}) before listening; is it installed in the \
                     venv? Run `cargo xtask venv`"
                );
            }
            assert!(
                Instant::now() < deadline,
                "localstripe did not listen on {} within 30 s",
                localstripe.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        localstripe
    }

    /// Its base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `LOCALSTRIPE_PYTHON` (set by `cargo xtask test`), else the venv `cargo xtask venv` made in the
/// workspace's `target/`.
fn localstripe_python() -> PathBuf {
    if let Some(python) = std::env::var_os(LOCALSTRIPE_PYTHON) {
        return PathBuf::from(python);
    }
    let venv_python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/pymongo-venv/bin/python");
    assert!(
        venv_python.exists(),
        "localstripe is not installed: run `cargo xtask venv` (or `cargo xtask test`, which CI \
         runs), or set {LOCALSTRIPE_PYTHON} to a Python that has localstripe==1.15.10; {} does \
         not exist",
        venv_python.display()
    );
    venv_python
}
