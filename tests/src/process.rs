//! Child processes under test: piped output parsed live, waits with deadlines, no orphans.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::events::{Event, Line, Started, Stats};

/// How much of a child's stderr goes into error messages.
const STDERR_TAIL: usize = 4000;
const POLL: Duration = Duration::from_millis(20);

/// A running child. Dropping it kills the child (SIGKILL) and reaps it, so a failing or
/// panicking test leaves nothing behind; the child also dies with the thread that spawned it.
pub struct Proc {
    name: String,
    child: Child,
    lines: Receiver<Line>,
    seen: Vec<Line>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stdout/stderr captured. `name` labels errors.
    pub fn spawn(name: impl Into<String>, mut cmd: Command) -> Result<Proc> {
        let name = name.into();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("{name}: cannot spawn {cmd:?}"))?;
        let stdout = child.stdout.take().context("stdout was not piped")?;
        let stderr_pipe = child.stderr.take().context("stderr was not piped")?;

        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(Line::parse(&line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut reader = BufReader::new(stderr_pipe);
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..n]);
                if let Ok(mut buf) = sink.lock() {
                    buf.push_str(&text);
                }
            }
        });
        Ok(Proc {
            name,
            child,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            status: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stdout line consumed so far (by waits or by [`Proc::wait_exit`]).
    pub fn lines(&self) -> &[Line] {
        &self.seen
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Consumes stdout lines until `pick` returns `Some`, failing on timeout, on exit, and on
    /// any line that breaks the `--json` contract.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pick: impl FnMut(&Line) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(Line::Malformed { line, error }) => {
                    bail!("{}: broke the --json contract ({error}): {line}", self.name)
                }
                Ok(line) => {
                    let picked = pick(&line);
                    self.seen.push(line);
                    if let Some(found) = picked {
                        return Ok(found);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(
                        self.failure(&format!("timed out after {timeout:?} waiting for {what}"))
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = match self.wait_exit(Duration::from_secs(5)) {
                        Ok(status) => status.to_string(),
                        Err(_) => "still running".to_owned(),
                    };
                    return Err(self.failure(&format!("closed stdout ({status}) before {what}")));
                }
            }
        }
    }

    pub fn wait_started(&mut self, timeout: Duration) -> Result<Started> {
        self.wait_for("the `started` event", timeout, |line| match line {
            Line::Event(Event::Started(started)) => Some(started.clone()),
            _ => None,
        })
    }

    pub fn wait_complete(&mut self, timeout: Duration) -> Result<Stats> {
        self.wait_for("the `complete` event", timeout, |line| match line {
            Line::Event(Event::Complete(stats)) => Some(stats.clone()),
            _ => None,
        })
    }

    pub fn wait_stopped(&mut self, timeout: Duration) -> Result<Stats> {
        self.wait_for("the `stopped` event", timeout, |line| match line {
            Line::Event(Event::Stopped(stats)) => Some(stats.clone()),
            _ => None,
        })
    }

    pub fn signal(&self, signal: Signal) -> Result<()> {
        let pid = i32::try_from(self.pid()).context("pid out of range")?;
        kill(Pid::from_raw(pid), signal).with_context(|| format!("{}: kill {signal}", self.name))
    }

    /// SIGTERM, then the final `stopped` event and a zero exit status, as the CLI promises.
    pub fn stop(&mut self, timeout: Duration) -> Result<Stats> {
        self.signal(Signal::SIGTERM)?;
        let stats = self.wait_stopped(timeout)?;
        let status = self.wait_exit(timeout)?;
        if !status.success() {
            return Err(self.failure(&format!("exited with {status} after SIGTERM")));
        }
        Ok(stats)
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child to exit, then collects the rest of its stdout and stderr.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("still running after {timeout:?}")));
            }
            thread::sleep(POLL);
        };
        self.status = Some(status);
        // The pipes close with the child; bound the wait anyway in case it left a grandchild.
        let drain_deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let remaining = drain_deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) => self.seen.push(line),
                Err(_) => break,
            }
        }
        if let Some(reader) = self.stderr_reader.take() {
            while !reader.is_finished() && Instant::now() < drain_deadline {
                thread::sleep(POLL);
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        Ok(status)
    }

    /// An error naming this child, with the end of its stderr for diagnosis.
    pub fn failure(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "{}: {what}\n--- last stdout line: {:?}\n--- stderr (tail):\n{}",
            self.name,
            self.seen.last(),
            tail(&self.stderr(), STDERR_TAIL)
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "--- {} (pid {}) stderr (tail):\n{}",
                self.name,
                self.child.id(),
                tail(&self.stderr(), STDERR_TAIL)
            );
        }
    }
}

/// A finished one-shot command.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<Line>,
    pub stderr: String,
}

impl Finished {
    /// The stdout lines that were not contract events, verbatim.
    pub fn text(&self) -> Vec<&str> {
        self.stdout
            .iter()
            .filter_map(|line| match line {
                Line::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Runs `cmd` to completion (killed after `timeout`), whatever its exit status.
pub fn run(name: &str, cmd: Command, timeout: Duration) -> Result<Finished> {
    let mut proc = Proc::spawn(name, cmd)?;
    let status = proc.wait_exit(timeout)?;
    Ok(Finished {
        status,
        stdout: std::mem::take(&mut proc.seen),
        stderr: proc.stderr(),
    })
}

/// Runs `cmd` to completion and requires exit status 0.
pub fn run_ok(name: &str, cmd: Command, timeout: Duration) -> Result<Finished> {
    let finished = run(name, cmd, timeout)?;
    if !finished.status.success() {
        bail!(
            "{name}: exited with {}\n--- stderr:\n{}",
            finished.status,
            tail(&finished.stderr, STDERR_TAIL)
        );
    }
    Ok(finished)
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// Asks the kernel to SIGKILL the child when the spawning thread ends, so children cannot
/// outlive a test binary that was itself killed (e.g. by a CI timeout). Note that it is the
/// spawning *thread*: spawn from the thread that owns the [`Proc`].
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
    // async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}
