//! The simulation: one real `Torrent` engine per peer, wired to the simulated network and
//! tracker, on a virtual clock.
//!
//! Payload bytes are virtual: reads return zeros, pieces are declared valid without hashing,
//! writes go nowhere. Every protocol message still goes through the engine's encoder, the
//! network model and the receiving engine's decoder.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::engine::{Action, Config, PeerInfo, PeerKey, Torrent};
use bitfleet_core::metainfo::{FileEntry, Info};
use bitfleet_core::sites::SiteMap;
use bitfleet_core::wire::MAX_BLOCK_SIZE;
use bitfleet_core::{Bitfield, InfoHash, Instant, PeerId};
use bytes::Bytes;

use crate::diagnose;
use crate::network::{FlowId, Network, ResourceId, Sent};
use crate::office_log::{OfficeLog, OfficeSample};
use crate::report;
use crate::scenario::{JoinRule, Layout};
use crate::tracker::Tracker;
use crate::usage::{HostClass, Links, Usage};

const LISTEN_PORT: u16 = 6881;
/// A dial to an address nobody listens on fails after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A progress line (and the per-office lines) every this many simulated seconds.
const PROGRESS_EVERY_SECS: u64 = 600;
/// The tracing target of the per-office progress lines (`office_log.rs`).
const OFFICES: &str = "bitfleet_sim::offices";

/// A unit in progress this long is handed to the receiver in part: at 1/400 a 16 KiB block
/// on a downlink shared by 40 flows takes minutes, and whole-unit delivery would make the
/// connection look idle to the engine's 150 s idle timeout (TCP delivers bytes as they come).
const TRICKLE: Duration = Duration::from_secs(10);

/// What happened to one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostOutcome {
    pub name: String,
    /// Where it started.
    pub site: Option<usize>,
    pub seed: bool,
    pub counted: bool,
    pub joined_at: Option<Duration>,
    pub completed_at: Option<Duration>,
    pub left_at: Option<Duration>,
    pub returned_at: Option<Duration>,
    /// Payload bytes it uploaded (all its lives).
    pub uploaded: u64,
}

/// Bytes that crossed a site's WAN link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WanTraffic {
    pub inbound: f64,
    pub outbound: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub hosts: Vec<HostOutcome>,
    pub wan: Vec<WanTraffic>,
    /// Every host that was to join did, and finished.
    pub finished: bool,
    pub end: Duration,
    /// Why the unfinished peers were not done at the time limit (when asked for).
    pub stalled: Option<String>,
}

struct Host {
    addr: Option<SocketAddr>,
    site: Option<usize>,
    engine: Option<Torrent>,
    peer_id: PeerId,
    incarnation: u64,
    up: ResourceId,
    down: ResourceId,
    timeout: Option<Instant>,
    /// Pieces kept while away.
    kept: Option<Bitfield>,
    return_at: Option<Instant>,
    uploaded_before: u64,
    outcome: HostOutcome,
}

struct SiteNet {
    wan_up: ResourceId,
    wan_down: ResourceId,
    lan: ResourceId,
    next_host: u32,
}

/// The far end of one direction of a connection.
#[derive(Clone, Copy)]
struct End {
    host: usize,
    key: PeerKey,
}

struct Conn {
    flow: FlowId,
    remote: End,
}

enum Event {
    Data {
        to: End,
        data: Bytes,
    },
    Closed {
        to: End,
    },
    Dial {
        from: usize,
        incarnation: u64,
        addr: SocketAddr,
    },
}

pub struct Simulation {
    layout: Layout,
    info: Arc<Info>,
    seed: u64,
    hosts: Vec<Host>,
    sites: Vec<SiteNet>,
    net: Network,
    tracker: Tracker,
    conns: BTreeMap<(usize, PeerKey), Conn>,
    /// Sender and receiver of each open flow, by flow id.
    flow_ends: Vec<Option<(End, End)>>,
    by_addr: BTreeMap<SocketAddr, usize>,
    events: BTreeMap<u64, Vec<Event>>,
    next_key: u64,
    next_field_host: u32,
    step: u64,
    logged_tick: u64,
    /// Capacity used since the last progress line.
    usage: Usage,
    offices: OfficeLog,
    dt: Duration,
    zeros: Bytes,
}

impl Simulation {
    pub fn new(layout: Layout, seed: u64) -> anyhow::Result<Self> {
        let mut map = SiteMap::new();
        for s in &layout.sites {
            map.add(&s.name, &[&s.cidr])?;
        }
        let tracker = Tracker::new(
            map,
            layout.policy,
            layout.announce_interval,
            layout.numwant,
            seed ^ 0x7ac4e7,
        );
        let info = Arc::new(Info {
            name: "payload".into(),
            piece_length: layout.piece_length,
            pieces: vec![[0; 20]; layout.piece_count as usize],
            files: vec![FileEntry {
                path: Vec::new(),
                length: layout.payload,
                offset: 0,
                pad: false,
            }],
            multi_file: false,
            private: false,
        });
        let mut net = Network::default();
        net.set_trickle((TRICKLE.as_nanos() / layout.step.as_nanos().max(1)).max(1) as u64);
        let sites = layout
            .sites
            .iter()
            .map(|s| SiteNet {
                wan_up: net.add_resource(s.wan),
                wan_down: net.add_resource(s.wan),
                lan: net.add_resource(s.lan),
                next_host: 0,
            })
            .collect();
        let hosts = layout
            .hosts
            .iter()
            .map(|spec| Host {
                addr: None,
                site: spec.site,
                engine: None,
                peer_id: PeerId([0; 20]),
                incarnation: 0,
                up: net.add_resource(spec.up),
                down: net.add_resource(spec.down),
                timeout: None,
                kept: None,
                return_at: None,
                uploaded_before: 0,
                outcome: HostOutcome {
                    name: spec.name.clone(),
                    site: spec.site,
                    seed: spec.seed,
                    counted: spec.counted,
                    joined_at: None,
                    completed_at: None,
                    left_at: None,
                    returned_at: None,
                    uploaded: 0,
                },
            })
            .collect();
        Ok(Self {
            dt: layout.step,
            info,
            seed,
            hosts,
            sites,
            net,
            tracker,
            conns: BTreeMap::new(),
            flow_ends: Vec::new(),
            by_addr: BTreeMap::new(),
            events: BTreeMap::new(),
            next_key: 1,
            next_field_host: 0,
            step: 0,
            logged_tick: 0,
            usage: Usage::default(),
            offices: OfficeLog::default(),
            zeros: Bytes::from(vec![0u8; MAX_BLOCK_SIZE as usize]),
            layout,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn time_of(&self, step: u64) -> Instant {
        Instant::from_epoch(self.dt.saturating_mul(step.min(u32::MAX as u64) as u32))
    }

    /// The first step at or after `t`.
    fn step_of(&self, t: Instant) -> u64 {
        let nanos = t.since_epoch().as_nanos();
        nanos.div_ceil(self.dt.as_nanos().max(1)) as u64
    }

    fn steps_for(&self, d: Duration) -> u64 {
        (d.as_nanos().div_ceil(self.dt.as_nanos().max(1)) as u64).max(1)
    }

    fn schedule(&mut self, after: Duration, event: Event) {
        let at = self.step + self.steps_for(after);
        self.events.entry(at).or_default().push(event);
    }

    /// Runs to the end: every peer finished, or the scenario's time limit (`dump_stalled`:
    /// then report on the peers not done).
    pub fn run(mut self, dump_stalled: bool) -> Outcome {
        let mut sent = Vec::new();
        let limit = self.step_of(Instant::from_epoch(self.layout.time_limit));
        let finished = loop {
            let now = self.time_of(self.step);
            self.scenario_events(now);
            if let Some(events) = self.events.remove(&self.step) {
                for event in events {
                    self.handle(event, now);
                }
            }
            for h in 0..self.hosts.len() {
                if self.hosts[h].timeout.is_some_and(|t| t <= now) {
                    if let Some(engine) = self.hosts[h].engine.as_mut() {
                        engine.handle_timeout(now);
                    }
                    self.drain(h, now);
                }
            }
            if self.all_done() {
                break true;
            }
            self.log_progress(now);
            if self.step >= limit {
                break false;
            }
            let end = self.time_of(self.step + 1);
            self.net.step(self.dt.as_secs_f64(), &mut sent);
            for s in sent.drain(..) {
                self.transmitted(s, end);
            }
            self.step = self.next_step();
        };
        let stalled = (dump_stalled && !finished).then(|| self.stall_report());
        let mut outcome = self.finish(finished);
        outcome.stalled = stalled;
        outcome
    }

    fn stall_report(&self) -> String {
        let now = self.time_of(self.step);
        let name_of = |addr: SocketAddr| {
            self.by_addr
                .get(&addr)
                .map(|&h| self.hosts[h].outcome.name.clone())
        };
        let tracker_seen = |addr: SocketAddr| self.tracker.last_seen(addr);
        let swarm = diagnose::Swarm {
            name_of: &name_of,
            engines: self
                .hosts
                .iter()
                .filter_map(|h| h.engine.as_ref().map(|e| (h.outcome.name.clone(), e)))
                .collect(),
            tracker_seen: &tracker_seen,
        };
        let mut out = format!(
            "== stalled at {} ==",
            report::hours(now.since_epoch().as_secs_f64())
        );
        for (h, host) in self.hosts.iter().enumerate() {
            let Some(engine) = host.engine.as_ref().filter(|e| !e.is_complete()) else {
                continue;
            };
            let far_view = |key: PeerKey| {
                let remote = self.conns.get(&(h, key))?.remote;
                let far = self.hosts[remote.host].engine.as_ref()?;
                far.peer_snapshots(now)
                    .into_iter()
                    .find(|p| p.key == remote.key)
            };
            diagnose::stalled_peer(
                &mut out,
                &far_view,
                &host.outcome.name,
                host.addr,
                engine,
                &swarm,
                now,
            );
            let at =
                |t: Option<Duration>| t.map_or("—".into(), |t| report::hours(t.as_secs_f64()));
            let o = &host.outcome;
            out.push_str(&format!(
                "  joined {}, left {}, returned {}\n",
                at(o.joined_at),
                at(o.left_at),
                at(o.returned_at)
            ));
        }
        for host in self.hosts.iter().filter(|h| h.return_at.is_some()) {
            out.push_str(&format!("\n{}: away until it returns\n", host.outcome.name));
        }
        out
    }

    /// A line on stderr every `PROGRESS_EVERY_SECS` of simulated time, for long runs.
    fn log_progress(&mut self, now: Instant) {
        let tick = now.since_epoch().as_secs() / PROGRESS_EVERY_SECS;
        if tick <= self.logged_tick {
            return;
        }
        self.logged_tick = tick;
        let done = self
            .hosts
            .iter()
            .filter(|h| h.outcome.completed_at.is_some())
            .count();
        let minutes = tick * PROGRESS_EVERY_SECS / 60;
        let active = !self.net.is_idle();
        let links: Vec<Links> = self
            .hosts
            .iter()
            .map(|h| Links {
                class: match (h.outcome.seed, h.site) {
                    (true, _) => HostClass::Origin,
                    (false, Some(_)) => HostClass::Office,
                    (false, None) => HostClass::Field,
                },
                up_carried: self.net.carried(h.up),
                down_carried: self.net.carried(h.down),
                up_capacity: self.net.capacity(h.up),
                down_capacity: self.net.capacity(h.down),
                downloading: h.engine.is_some()
                    && !h.outcome.seed
                    && h.outcome.completed_at.is_none(),
            })
            .collect();
        let (upload_used, downlinks_fed) = self.usage.report(&links, PROGRESS_EVERY_SECS as f64);
        tracing::info!(
            minutes,
            done,
            step = self.step,
            active,
            upload_used,
            downlinks_fed,
            "simulated"
        );
        if tracing::enabled!(target: OFFICES, tracing::Level::DEBUG) {
            let samples = self.office_samples();
            for line in self.offices.report(&samples, PROGRESS_EVERY_SECS as f64) {
                tracing::debug!(target: OFFICES, minutes, "{line}");
            }
        }
    }

    /// The sites with more than one laptop, for the per-office progress lines.
    fn office_samples(&self) -> Vec<OfficeSample> {
        let pieces = self.info.piece_count();
        let mut samples = Vec::new();
        for (i, (site, spec)) in self.sites.iter().zip(&self.layout.sites).enumerate() {
            let members: Vec<&Host> = self
                .hosts
                .iter()
                .filter(|h| h.site == Some(i) && !h.outcome.seed)
                .collect();
            if members.len() < 2 {
                continue;
            }
            let mut union = Bitfield::new(pieces);
            let mut held = 0u64;
            for engine in members.iter().filter_map(|h| h.engine.as_ref()) {
                for piece in engine.have().iter_ones() {
                    union.set(piece);
                }
                held += u64::from(engine.have().count_ones());
            }
            let whole = f64::from(pieces.max(1));
            samples.push(OfficeSample {
                name: spec.name.clone(),
                members: members.len(),
                done: members
                    .iter()
                    .filter(|h| h.outcome.completed_at.is_some())
                    .count(),
                union: f64::from(union.count_ones()) / whole,
                mean: held as f64 / (whole * members.len() as f64),
                wan_in: self.net.carried(site.wan_down),
                wan_out: self.net.carried(site.wan_up),
                members_up: members.iter().map(|h| self.net.carried(h.up)).sum(),
                members_up_capacity: members.iter().map(|h| self.net.capacity(h.up)).sum(),
                member_down_capacity: self.net.capacity(members[0].down),
            });
        }
        samples
    }

    fn next_step(&self) -> u64 {
        let next = self.step + 1;
        if !self.net.is_idle() {
            return next;
        }
        // Nothing on the wire: skip to the next thing that happens.
        let timers = self.hosts.iter().filter_map(|h| h.timeout);
        let returns = self.hosts.iter().filter_map(|h| h.return_at);
        let joins = self
            .layout
            .hosts
            .iter()
            .zip(&self.hosts)
            .filter(|(_, h)| h.outcome.joined_at.is_none())
            .filter_map(|(spec, _)| match spec.join {
                JoinRule::At(t) => Some(Instant::from_epoch(t)),
                JoinRule::SiteSeeds(_) => None,
            });
        let soonest = timers
            .chain(returns)
            .chain(joins)
            .map(|t| self.step_of(t))
            .chain(self.events.keys().next().copied())
            .min();
        soonest.map_or(next, |s| s.max(next))
    }

    fn all_done(&self) -> bool {
        self.hosts.iter().all(|h| {
            h.outcome.joined_at.is_some()
                && h.return_at.is_none()
                && (h.outcome.seed || h.outcome.completed_at.is_some())
        })
    }

    fn scenario_events(&mut self, now: Instant) {
        for h in 0..self.hosts.len() {
            let host = &self.hosts[h];
            if host.outcome.joined_at.is_none() {
                let due = match self.layout.hosts[h].join {
                    JoinRule::At(t) => Instant::from_epoch(t) <= now,
                    JoinRule::SiteSeeds(n) => {
                        let seeds = self
                            .hosts
                            .iter()
                            .filter(|o| o.site.is_some() && o.site == host.site)
                            .filter(|o| o.engine.as_ref().is_some_and(|e| e.is_complete()))
                            .count();
                        seeds >= n
                    }
                };
                if due {
                    let pieces = self.layout.piece_count;
                    let have = if self.layout.hosts[h].seed {
                        Bitfield::full(pieces)
                    } else {
                        Bitfield::new(pieces)
                    };
                    self.hosts[h].outcome.joined_at = Some(now.since_epoch());
                    self.go_online(h, have, now);
                }
            } else if host.return_at.is_some_and(|t| t <= now) {
                let kept = self.hosts[h].kept.take();
                let host = &mut self.hosts[h];
                host.return_at = None;
                host.site = None;
                host.outcome.returned_at = Some(now.since_epoch());
                let have = kept.unwrap_or_else(|| Bitfield::new(self.layout.piece_count));
                self.go_online(h, have, now);
            } else if let (Some(roam), Some(engine)) = (self.layout.hosts[h].roam, &host.engine) {
                let progress =
                    f64::from(engine.have().count_ones()) / f64::from(self.layout.piece_count);
                if host.outcome.left_at.is_none() && progress >= roam.leave_at {
                    self.go_offline(h, now);
                    let host = &mut self.hosts[h];
                    host.outcome.left_at = Some(now.since_epoch());
                    host.return_at = Some(now + roam.away);
                }
            }
        }
    }

    fn new_address(&mut self, site: Option<usize>) -> SocketAddr {
        let ip = match site {
            Some(s) => {
                let n = self.sites[s].next_host;
                self.sites[s].next_host += 1;
                Ipv4Addr::new(10, s as u8 + 1, (n / 250) as u8, (n % 250) as u8 + 1)
            }
            None => {
                let n = self.next_field_host;
                self.next_field_host += 1;
                Ipv4Addr::new(
                    100,
                    64 + (n / 62500) as u8,
                    (n / 250 % 250) as u8,
                    (n % 250) as u8 + 1,
                )
            }
        };
        SocketAddr::new(IpAddr::V4(ip), LISTEN_PORT)
    }

    fn go_online(&mut self, h: usize, have: Bitfield, now: Instant) {
        let addr = self.new_address(self.hosts[h].site);
        self.hosts[h].incarnation += 1;
        let id_seed =
            self.seed.wrapping_mul(1_000_003) ^ ((h as u64) << 8) ^ self.hosts[h].incarnation;
        let mut config = Config::new(PeerId::generate(id_seed), LISTEN_PORT);
        config.piece_order = self.layout.piece_order;
        config.upload_limit = self.layout.hosts[h].up_limit.map(|r| r as u64);
        if let Some(max) = self.layout.hosts[h].max_peers {
            config.max_peers = max;
        }
        stretch_timers(&mut config, self.layout.scale);
        // With sites on, an engine knows its own site's networks, as the native client learns
        // them from its configuration.
        if self.layout.policy.by_site {
            config.local_networks = self.hosts[h]
                .site
                .and_then(|s| self.layout.sites[s].cidr.parse().ok())
                .into_iter()
                .collect();
        }
        let mut engine = Torrent::new(
            self.info.clone(),
            InfoHash([0xb1; 20]),
            have,
            config,
            id_seed ^ 0x5eed,
            now,
        );
        engine.start(now);
        let host = &mut self.hosts[h];
        host.engine = Some(engine);
        host.peer_id = PeerId::generate(id_seed);
        host.addr = Some(addr);
        self.by_addr.insert(addr, h);
        self.drain(h, now);
    }

    /// The host drops off the network at once (lid closed): no goodbye to anyone.
    fn go_offline(&mut self, h: usize, now: Instant) {
        let host = &mut self.hosts[h];
        let Some(engine) = host.engine.take() else {
            return;
        };
        host.kept = Some(engine.have().clone());
        host.uploaded_before += engine.status(now).transfer.uploaded;
        host.timeout = None;
        if let Some(addr) = host.addr.take() {
            self.by_addr.remove(&addr);
        }
        let keys: Vec<PeerKey> = self
            .conns
            .range((h, PeerKey(0))..=(h, PeerKey(u64::MAX)))
            .map(|((_, k), _)| *k)
            .collect();
        for key in keys {
            self.drop_connection(h, key, true);
        }
    }

    /// Tears down both directions of a connection; the far end learns of it after the
    /// path's latency (`notify_far`) — the near end is either gone or asked for it.
    fn drop_connection(&mut self, h: usize, key: PeerKey, notify_far: bool) {
        let Some(conn) = self.conns.remove(&(h, key)) else {
            return;
        };
        self.close_flow(conn.flow);
        if let Some(back) = self.conns.remove(&(conn.remote.host, conn.remote.key)) {
            self.close_flow(back.flow);
        }
        if notify_far {
            let latency = self.latency(h, conn.remote.host);
            self.schedule(latency, Event::Closed { to: conn.remote });
        }
    }

    fn close_flow(&mut self, flow: FlowId) {
        self.net.close(flow);
        if let Some(slot) = self.flow_ends.get_mut(flow.0 as usize) {
            *slot = None;
        }
    }

    /// One-way latency between two hosts where they are now.
    fn latency(&self, a: usize, b: usize) -> Duration {
        let (sa, sb) = (self.hosts[a].site, self.hosts[b].site);
        if let (Some(x), Some(y)) = (sa, sb) {
            if x == y {
                return self.layout.sites[x].lan_latency;
            }
        }
        let leg = |s: Option<usize>| {
            s.map_or(self.layout.field_latency, |s| {
                self.layout.sites[s].wan_latency
            })
        };
        leg(sa) + leg(sb)
    }

    fn open_flow(&mut self, from: End, to: End) -> FlowId {
        let (a, b) = (from.host, to.host);
        let mut hops = vec![self.hosts[a].up, self.hosts[b].down];
        match (self.hosts[a].site, self.hosts[b].site) {
            (Some(x), Some(y)) if x == y => hops.push(self.sites[x].lan),
            (sa, sb) => {
                hops.extend(sa.map(|s| self.sites[s].wan_up));
                hops.extend(sb.map(|s| self.sites[s].wan_down));
            }
        }
        let latency = self.steps_for(self.latency(a, b));
        let flow = self.net.open(&hops, latency);
        let slot = flow.0 as usize;
        if self.flow_ends.len() <= slot {
            self.flow_ends.resize(slot + 1, None);
        }
        self.flow_ends[slot] = Some((from, to));
        flow
    }

    fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::Data { to, data } => {
                if let Some(engine) = self.hosts[to.host].engine.as_mut() {
                    engine.peer_data(to.key, &data, now);
                    self.drain(to.host, now);
                }
            }
            Event::Closed { to } => {
                if let Some(engine) = self.hosts[to.host].engine.as_mut() {
                    engine.peer_closed(to.key, now);
                    self.drain(to.host, now);
                }
            }
            Event::Dial {
                from,
                incarnation,
                addr,
            } => self.dial(from, incarnation, addr, now),
        }
    }

    /// The dial reached `addr` (or not): the handshake is done on both sides at once.
    fn dial(&mut self, from: usize, incarnation: u64, addr: SocketAddr, now: Instant) {
        if self.hosts[from].incarnation != incarnation || self.hosts[from].engine.is_none() {
            return;
        }
        // Nobody there (any more): the dial already waited out its timeout.
        let Some(&to) = self.by_addr.get(&addr) else {
            self.engine(from).connect_failed(addr, now);
            self.drain(from, now);
            return;
        };
        let (ka, kb) = (PeerKey(self.next_key), PeerKey(self.next_key + 1));
        self.next_key += 2;
        let info = |host: &Host, outgoing: bool| PeerInfo {
            addr: host.addr,
            peer_id: host.peer_id,
            supports_fast: true,
            supports_extensions: true,
            outgoing,
        };
        let to_them = info(&self.hosts[to], true);
        let to_us = info(&self.hosts[from], false);
        let accepted_here = self.engine(from).peer_connected(ka, to_them, now);
        let accepted = accepted_here && self.engine(to).peer_connected(kb, to_us, now);
        if !accepted {
            // As the native driver: a connection refused after the handshake was made, so it
            // is not a failed dial; refused by them, it is one they closed.
            if accepted_here {
                self.engine(from).peer_closed(ka, now);
            }
            self.drain(from, now);
            self.drain(to, now);
            return;
        }
        let (a, b) = (
            End {
                host: from,
                key: ka,
            },
            End { host: to, key: kb },
        );
        let ab = self.open_flow(a, b);
        let ba = self.open_flow(b, a);
        self.conns.insert(
            (from, ka),
            Conn {
                flow: ab,
                remote: b,
            },
        );
        self.conns.insert(
            (to, kb),
            Conn {
                flow: ba,
                remote: a,
            },
        );
        self.drain(from, now);
        self.drain(to, now);
    }

    fn engine(&mut self, h: usize) -> &mut Torrent {
        self.hosts[h]
            .engine
            .as_mut()
            .expect("dial checked both ends are online")
    }

    /// Bytes a flow finished sending: the sender learns they left, the receiver gets them
    /// after the path's latency.
    fn transmitted(&mut self, sent: Sent, end: Instant) {
        let Some(Some((from, to))) = self.flow_ends.get(sent.flow.0 as usize).copied() else {
            return;
        };
        let written: usize = sent.units.iter().map(Bytes::len).sum();
        if let Some(engine) = self.hosts[from.host].engine.as_mut() {
            engine.peer_written(from.key, written, end);
            self.drain(from.host, end);
        }
        let data = if sent.units.len() == 1 {
            sent.units.into_iter().next().unwrap_or_default()
        } else {
            Bytes::from(sent.units.concat())
        };
        // Sent during this step, so it arrives `latency` after the step's end at the earliest.
        let at = self.step + sent.latency_steps.max(1);
        self.events
            .entry(at)
            .or_default()
            .push(Event::Data { to, data });
    }

    /// Carries out a host's actions until it has none.
    fn drain(&mut self, h: usize, now: Instant) {
        loop {
            let Some(action) = self.hosts[h].engine.as_mut().and_then(Torrent::poll_action) else {
                break;
            };
            self.perform(h, action, now);
        }
        self.hosts[h].timeout = self.hosts[h]
            .engine
            .as_ref()
            .and_then(Torrent::poll_timeout);
    }

    fn perform(&mut self, h: usize, action: Action, now: Instant) {
        match action {
            Action::Send { peer, data } => {
                if let Some(conn) = self.conns.get(&(h, peer)) {
                    self.net.push(conn.flow, data);
                }
            }
            Action::Disconnect { peer, .. } => self.drop_connection(h, peer, true),
            Action::Connect { addr } => {
                let incarnation = self.hosts[h].incarnation;
                // Connection set-up and the BitTorrent handshake: two round trips.
                let set_up = self.by_addr.get(&addr).map(|&to| self.latency(h, to) * 4);
                self.schedule(
                    set_up.unwrap_or(CONNECT_TIMEOUT),
                    Event::Dial {
                        from: h,
                        incarnation,
                        addr,
                    },
                );
            }
            Action::ReadBlock { peer, block } => {
                let len = block.len as usize;
                let data = if len <= self.zeros.len() {
                    self.zeros.slice(..len)
                } else {
                    Bytes::from(vec![0; len])
                };
                self.engine(h).block_read(peer, block, Some(data), now);
            }
            Action::Verify { piece, .. } => self.engine(h).piece_verified(piece, true, now),
            Action::Write { piece, .. } => self.engine(h).piece_written(piece, true, now),
            Action::Announce { event, stats } => {
                let Some(addr) = self.hosts[h].addr else {
                    return;
                };
                let reply = self.tracker.announce(addr, stats.left, event, now);
                self.engine(h).announce_result(Ok(reply), now);
            }
            Action::Completed => {
                let outcome = &mut self.hosts[h].outcome;
                if !outcome.seed {
                    outcome.completed_at.get_or_insert(now.since_epoch());
                }
            }
            // Simulated peers start from the .torrent, never from a magnet link.
            Action::MetadataReceived { .. } => {}
            // Simulated torrents have no web seeds (BEP 19).
            Action::FetchWebSeed { .. } => {}
        }
    }

    fn finish(mut self, finished: bool) -> Outcome {
        let now = self.time_of(self.step);
        let wan = self
            .sites
            .iter()
            .map(|s| WanTraffic {
                inbound: self.net.carried(s.wan_down),
                outbound: self.net.carried(s.wan_up),
            })
            .collect();
        let hosts = self
            .hosts
            .iter_mut()
            .map(|h| {
                let uploaded = h
                    .engine
                    .as_ref()
                    .map_or(0, |e| e.status(now).transfer.uploaded);
                h.outcome.uploaded = h.uploaded_before + uploaded;
                h.outcome.clone()
            })
            .collect();
        Outcome {
            hosts,
            wan,
            finished,
            end: now.since_epoch(),
            stalled: None,
        }
    }
}

/// Scaling rates by `scale` makes every 16 KiB block take `1/scale` times longer, so the
/// engine's timers measured against a block's time (the snub timeout, the rechoke and
/// optimistic intervals over which rates are compared) are stretched by the same factor. The
/// product's defaults are those at scale 1.
fn stretch_timers(config: &mut Config, scale: f64) {
    let stretch = |d: std::time::Duration| d.div_f64(scale);
    config.snub_timeout = stretch(config.snub_timeout);
    config.rechoke_interval = stretch(config.rechoke_interval);
    config.optimistic_interval = stretch(config.optimistic_interval);
    config.colleagues_stall_timeout = stretch(config.colleagues_stall_timeout);
    config.disinterest_timeout = stretch(config.disinterest_timeout);
}
