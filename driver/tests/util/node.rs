//! `nines node` as a harness drives it: every stream piped, replies read as they come.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `nines node ARGS` with every stream piped.
pub fn node_with(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nines"))
        .arg("node")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `nines node` with every stream piped.
pub fn node() -> Child {
    node_with(&[])
}

/// A node's replies, one per line, as they come (a thread reads its stdout).
pub fn replies(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Writes one line to the node.
pub fn send(stdin: &mut ChildStdin, line: &str) {
    stdin.write_all(line.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
}

/// The next reply, which must come within the harness's 5 s.
pub fn reply_within_5s(rx: &mpsc::Receiver<String>) -> Value {
    let line = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("a reply within the harness's 5 s");
    serde_json::from_str(&line).unwrap()
}

/// Waits (at most 10 s) for the node to exit.
pub fn exit_status(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
