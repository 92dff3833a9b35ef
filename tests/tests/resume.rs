//! Stop and resume anywhere: a download SIGKILLed at random points and restarted each time
//! finishes byte-identical, its resume data never claims a piece whose bytes are wrong, and
//! what the seed sent in all stays within the payload plus what can be in flight at each kill.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use bitfleet_core::metainfo::{Info, Metainfo};
use bitfleet_tests::resume_file::{read_claims, wrong_pieces};
use bitfleet_tests::{
    bitfleet, bitfleet_create, bitfleet_seed, compare_trees, loopback, temp_dir, uneven_tree,
    write_payload, Event, Line, Proc, TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};
use nix::sys::signal::Signal;
use tempfile::TempDir;

const PAYLOAD: u64 = 16 << 20;
const PIECE_LENGTH: u64 = 64 << 10;
/// The seed's cap: the whole download takes ~16 s, so the kills land mid-transfer.
const UP_LIMIT: u64 = 1 << 20;
const KILLS: usize = 6;
/// Seed of the kill schedule: a failure reproduces with the same kill points.
const RNG_SEED: u64 = 0x5eed_0fb1_7f1e_e7a5;

/// Bytes that may be fetched again per kill: what the seed had sent but the leecher had not
/// yet stored — the pieces being assembled in memory (with one peer, the few its request
/// pipeline spans) plus what sits in socket buffers (a quarter second at the cap). Pieces
/// stored but not yet listed in the resume data are found on disk again, not refetched.
fn in_flight_allowance() -> u64 {
    4 * PIECE_LENGTH + UP_LIMIT / 4
}

/// `name=value` from the start-up log line `pieces on disk ...`.
fn startup_field<'a>(stderr: &'a str, name: &str) -> Option<&'a str> {
    let line = stderr.lines().find(|l| l.contains("pieces on disk"))?;
    let prefix = format!("{name}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(prefix.as_str()))
}

/// How many pieces a run found on disk at start.
fn found_at_start(stderr: &str) -> u32 {
    startup_field(stderr, "have")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no start-up line in:\n{stderr}"))
}

/// The last `have` a run reported before it died.
fn last_reported_have(proc: &Proc) -> u32 {
    proc.lines()
        .iter()
        .rev()
        .find_map(|line| match line {
            Line::Event(event) => event.stats().map(|s| s.have),
            _ => None,
        })
        .unwrap_or(0)
}

fn get_command(torrent: &Path, out: &Path, seed_port: u16) -> Command {
    let mut cmd = bitfleet().unwrap();
    cmd.arg("get").arg(torrent).arg("--out").arg(out);
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--json"]);
    cmd.arg("--peer").arg(loopback(seed_port).to_string());
    cmd.env("RUST_LOG", "bitfleet=info");
    cmd
}

/// A payload, its torrent and a capped seed of it.
struct Swarm {
    tmp: TempDir,
    data: PathBuf,
    torrent: PathBuf,
    info_hash: String,
    info: Info,
    seed: Proc,
    seed_port: u16,
}

impl Swarm {
    fn start(label: &str, up_limit: u64) -> Swarm {
        let tmp = temp_dir(label).unwrap();
        let data = tmp.path().join("data");
        write_payload(&data.join("fleet"), 77, &uneven_tree(PAYLOAD).unwrap()).unwrap();
        let torrent = tmp.path().join("fleet.torrent");
        let created = bitfleet_create(
            &data.join("fleet"),
            &torrent,
            &["--piece-length", &PIECE_LENGTH.to_string()],
        )
        .unwrap();
        let info = Metainfo::from_bytes(&fs::read(&torrent).unwrap())
            .unwrap()
            .info;
        let mut seed = bitfleet_seed(
            "seed",
            &torrent,
            &data,
            &["--up-limit", &up_limit.to_string()],
        )
        .unwrap();
        let seed_port = seed.wait_started(TIMEOUT_QUICK).unwrap().port;
        Swarm {
            tmp,
            data,
            torrent,
            info_hash: created.info_hash,
            info,
            seed,
            seed_port,
        }
    }

    fn get(&self, name: &str, out: &Path, extra: &[&str]) -> Proc {
        let mut cmd = get_command(&self.torrent, out, self.seed_port);
        cmd.args(extra);
        Proc::spawn(name, cmd).unwrap()
    }

    fn assert_identical(&self, out: &Path) {
        compare_trees(&self.data.join("fleet"), &out.join("fleet")).unwrap();
    }
}

/// Flips a byte of `piece` in the download, then puts the file's mtime back: to a size and
/// mtime comparison the file is unchanged.
fn damage_unseen(info: &Info, out: &Path, piece: u32) {
    let span = info.file_spans(piece, 0, info.piece_size(piece))[0];
    let file = &info.files[span.file];
    let path = file
        .path
        .iter()
        .fold(out.join(&info.name), |p, c| p.join(c));
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[span.file_offset as usize] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    let handle = fs::File::options().write(true).open(&path).unwrap();
    handle.set_modified(mtime).unwrap();
}

/// SIGTERM before completion: a graceful stop (`get` then exits 1, "interrupted").
fn interrupt(proc: &mut Proc) {
    proc.signal(Signal::SIGTERM).unwrap();
    proc.wait_stopped(TIMEOUT_QUICK).unwrap();
    proc.wait_exit(TIMEOUT_QUICK).unwrap();
}

#[test]
fn recheck_finds_damage_the_resume_data_cannot_see() {
    let swarm = Swarm::start("recheck", UP_LIMIT);
    let out = swarm.tmp.path().join("out");
    let mut first = swarm.get("first run", &out, &[]);
    let pieces = first.wait_started(TIMEOUT_QUICK).unwrap().pieces;
    first
        .wait_for("half the pieces", TIMEOUT_TRANSFER, |line| match line {
            Line::Event(Event::Progress(stats)) => (stats.have >= pieces / 2).then_some(()),
            _ => None,
        })
        .unwrap();
    interrupt(&mut first);
    let claims = read_claims(&out, &swarm.info_hash).unwrap().unwrap();
    assert!(claims.clean, "a graceful stop leaves clean resume data");
    let victim = claims.have.iter_ones().nth(3).unwrap();
    damage_unseen(&swarm.info, &out, victim);

    // Resume data and file stamps agree: the restart trusts them and reads nothing...
    let mut trusting = swarm.get("trusting restart", &out, &[]);
    trusting.wait_started(TIMEOUT_QUICK).unwrap();
    interrupt(&mut trusting);
    assert_eq!(startup_field(&trusting.stderr(), "checked"), Some("0"));
    assert_eq!(found_at_start(&trusting.stderr()), claims.have.count_ones());

    // ...until --recheck hashes everything and finds the damaged piece, fetched again.
    let listed = read_claims(&out, &swarm.info_hash).unwrap().unwrap().have;
    assert!(listed.get(victim));
    let mut rechecking = swarm.get("rechecking restart", &out, &["--recheck"]);
    let done = rechecking.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert!(rechecking.wait_exit(TIMEOUT_QUICK).unwrap().success());
    let stderr = rechecking.stderr();
    assert_eq!(startup_field(&stderr, "from_resume"), Some("false"));
    assert_eq!(found_at_start(&stderr), listed.count_ones() - 1);
    assert_eq!(done.have, pieces);
    swarm.assert_identical(&out);
    assert!(
        read_claims(&out, &swarm.info_hash).unwrap().is_none(),
        "a finished download keeps no resume data"
    );
}

#[test]
fn sigkilled_download_resumes_without_refetching_or_lying() {
    let Swarm {
        tmp,
        data,
        torrent,
        info_hash,
        info,
        mut seed,
        seed_port,
    } = Swarm::start("resume", UP_LIMIT);
    let out = tmp.path().join("out");
    let mut rng = fastrand::Rng::with_seed(RNG_SEED);
    let mut kills = 0;
    let mut claimed_before = 0;
    // Pieces the previous run had reported stored: a restart must find every one of them.
    let mut stored_before_kill = 0;
    while kills < KILLS {
        let had_resume = read_claims(&out, &info_hash).unwrap().is_some();
        let mut leecher = Proc::spawn(
            format!("leecher run {kills}"),
            get_command(&torrent, &out, seed_port),
        )
        .unwrap();
        leecher.wait_started(TIMEOUT_QUICK).unwrap();
        let delay = Duration::from_millis(rng.u64(300..2_000));
        thread::sleep(delay);
        assert!(
            leecher.is_running(),
            "the download finished before kill {kills}: slow the seed down"
        );
        leecher.signal(Signal::SIGKILL).unwrap();
        leecher.wait_exit(TIMEOUT_QUICK).unwrap();
        kills += 1;

        let stderr = leecher.stderr();
        if had_resume {
            assert_eq!(
                startup_field(&stderr, "from_resume"),
                Some("true"),
                "run {kills} did not use the resume data:\n{stderr}"
            );
        }
        let found = found_at_start(&stderr);
        assert!(
            found >= stored_before_kill,
            "run {kills} found {found} pieces on disk, but the run before had stored {stored_before_kill}"
        );
        stored_before_kill = last_reported_have(&leecher);
        let claims = read_claims(&out, &info_hash).unwrap();
        let claimed = claims.as_ref().map_or(0, |c| c.have.count_ones());
        if let Some(claims) = &claims {
            let wrong = wrong_pieces(&info, &out, &claims.have).unwrap();
            assert!(
                wrong.is_empty(),
                "after kill {kills} the resume data claims bad pieces {wrong:?}"
            );
            assert!(
                !claims.clean,
                "a killed process cannot have stopped cleanly"
            );
        }
        let restart = stderr
            .lines()
            .find(|l| l.contains("pieces on disk"))
            .unwrap_or("(no start-up line)");
        println!(
            "kill {kills} after {delay:?}: resume data lists {claimed} of {} pieces (was {claimed_before}); start-up: {restart}",
            info.piece_count()
        );
        assert!(claimed >= claimed_before, "resume data went backwards");
        claimed_before = claimed;
    }

    let mut last =
        Proc::spawn("leecher final run", get_command(&torrent, &out, seed_port)).unwrap();
    let done = last.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert_eq!(done.have, done.pieces);
    assert!(last.wait_exit(TIMEOUT_QUICK).unwrap().success());
    let found = found_at_start(&last.stderr());
    assert!(
        found >= stored_before_kill,
        "the final run lost stored pieces"
    );
    compare_trees(&data.join("fleet"), &out.join("fleet")).unwrap();
    assert!(
        read_claims(&out, &info_hash).unwrap().is_none(),
        "a finished download keeps no resume data"
    );

    let sent = seed.stop(TIMEOUT_QUICK).unwrap().uploaded;
    let bound = PAYLOAD + kills as u64 * in_flight_allowance();
    println!(
        "seed sent {sent} bytes for a {PAYLOAD}-byte payload over {kills} kills ({} refetched or in flight; bound {bound})",
        sent.saturating_sub(PAYLOAD)
    );
    assert!(
        sent <= bound,
        "the seed sent {sent} bytes: more than the payload plus {kills} x {} in flight",
        in_flight_allowance()
    );
}
