//! [`SmtpServer`]: a real SMTP server (aiosmtpd, from the venv `cargo xtask venv` makes) on a
//! loopback port, recording every message it accepts, which the e-mail tests read back. It can be
//! stopped and started again on the same port, to show that delivery waits and resumes.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde::Deserialize;

/// The server, written in Python on aiosmtpd; see the file for what it records.
const SMTP_CAPTURE: &str = include_str!("smtp_capture.py");

/// One message as the SMTP server received and parsed it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedEmail {
    /// Envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// Envelope recipients (`RCPT TO`).
    pub rcpt_tos: Vec<String>,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// The top-level content type.
    pub content_type: String,
    /// The decoded `text/plain` part.
    pub text: Option<String>,
    /// The decoded `text/html` part.
    pub html: Option<String>,
}

impl ReceivedEmail {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `text/plain` part, which every e-mail must have.
    pub fn text(&self) -> &str {
        self.text.as_deref().expect("a text/plain part")
    }

    /// The `text/html` part, which every e-mail must have.
    pub fn html(&self) -> &str {
        self.html.as_deref().expect("a text/html part")
    }
}

/// A running (or stopped) aiosmtpd.
pub struct SmtpServer {
    child: Option<Child>,
    /// Where it listens.
    pub address: SocketAddr,
    mailbox: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts the server on a port the system chooses (so no other test can take it between a
    /// probe and the bind) and waits until it accepts connections.
    pub fn start() -> Self {
        let mut server = Self {
            child: None,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            mailbox: tempfile::tempdir().expect("a mailbox directory"),
        };
        server.resume();
        server
    }

    /// Stops the server: connections to its port are refused until [`SmtpServer::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(
            TcpStream::connect(self.address).is_err(),
            "the SMTP server still answers"
        );
    }

    /// Starts the server again on the same port, with the messages received so far kept.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is already running");
        let python = python();
        let mut child = Command::new(&python)
            .args(["-c", SMTP_CAPTURE])
            .arg(self.address.port().to_string())
            .arg(self.mailbox.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start aiosmtpd with {}: {error}", python.display())
            });
        // The server prints its port once it listens; end of output first means it exited.
        let mut line = String::new();
        let stdout = child.stdout.take().expect("the server's standard output");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port = line.trim().parse::<u16>().unwrap_or_else(|_| {
            let status = child.wait().map(|status| status.to_string());
            panic!(
                "aiosmtpd exited ({status:?}) before listening on port {}; is it installed in \
                 the venv? Run `cargo xtask venv`",
                self.address.port()
            )
        });
        self.address.set_port(port);
        self.child = Some(child);
        assert!(
            TcpStream::connect(self.address).is_ok(),
            "aiosmtpd said it listens on {} but refuses connections",
            self.address
        );
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedEmail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.mailbox.path())
            .expect("the mailbox is readable")
            .map(|entry| entry.expect("a mailbox entry").path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
            })
            .collect();
        files.sort();
        files
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).expect("a recorded message");
                serde_json::from_str(&text).expect("a recorded message is JSON")
            })
            .collect()
    }

    /// The messages received so far that were sent to `address`.
    pub fn received_by(&self, address: &str) -> Vec<ReceivedEmail> {
        self.received()
            .into_iter()
            .filter(|email| email.rcpt_tos.iter().any(|to| to == address))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `LOCALSTRIPE_PYTHON` (set by `cargo xtask test` to the venv's Python, which has aiosmtpd too),
/// else the venv `cargo xtask venv` made in the workspace's `target/`.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("LOCALSTRIPE_PYTHON") {
        return PathBuf::from(python);
    }
    let venv_python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pymongo-venv/bin/python");
    assert!(
        venv_python.exists(),
        "aiosmtpd is not installed: run `cargo xtask venv` (or `cargo xtask test`, which CI \
         runs); {} does not exist",
        venv_python.display()
    );
    venv_python
}
