//! Network namespaces for tests that change a machine's network under a running process
//! (roaming). Needs root and iproute2's `ip`; everything made here is removed on drop.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{Proc, TIMEOUT_QUICK};

/// Runs `ip ARGS...`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip` (iproute2); namespace tests need it, and root")?;
    if !output.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// A network namespace, deleted (with every interface in it) on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up. Fails clearly without root or `ip`.
    pub fn create(name: &str) -> Result<Netns> {
        ip(&["netns", "add", name]).with_context(|| {
            format!("cannot create network namespace {name}: this test needs root and `ip netns`")
        })?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip ARGS...` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `program` to be run inside the namespace (`ip netns exec` execs it: same pid).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Waits until `host:port`, seen from inside the namespace, accepts TCP connections;
    /// fails early when `proc`, the program that should listen there, exits.
    pub fn wait_listening(&self, host: &str, port: u16, proc: &mut Proc) {
        let deadline = Instant::now() + TIMEOUT_QUICK;
        while Instant::now() < deadline {
            let probe = self
                .command("bash")
                .args(["-c", &format!("exec 3<>/dev/tcp/{host}/{port}")])
                .stderr(Stdio::null())
                .status()
                .expect("bash runs in the namespace");
            if probe.success() {
                return;
            }
            assert!(proc.is_running(), "{} exited", proc.name());
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} not listening on {host}:{port}", proc.name());
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "delete", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

/// A veth pair with one end in each namespace.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
    ip(&[
        "link",
        "add",
        a_if,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])
}
