//! The `--json` output contract: one JSON object per stdout line (README, "CLI reference").

use serde::Deserialize;

/// Counters carried by `progress`, `complete` and `stopped`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Stats {
    pub have: u32,
    pub pieces: u32,
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes per second; accepted as a float since a rate need not be whole.
    pub down_rate: f64,
    pub up_rate: f64,
    pub peers: u32,
    pub hash_failures: u64,
    pub wasted: u64,
}

/// Payload of `started`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Started {
    pub info_hash: String,
    pub name: String,
    pub total: u64,
    pub pieces: u32,
    pub port: u16,
}

/// One event of the contract. Extra fields are tolerated; missing ones are a contract breach.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started(Started),
    Progress(Stats),
    Complete(Stats),
    Stopped(Stats),
}

impl Event {
    pub fn stats(&self) -> Option<&Stats> {
        match self {
            Event::Started(_) => None,
            Event::Progress(s) | Event::Complete(s) | Event::Stopped(s) => Some(s),
        }
    }
}

/// One line a child printed on stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A contract event.
    Event(Event),
    /// A JSON object whose `event` is not part of the contract (e.g. the liar's `poisoned`).
    Json(serde_json::Value),
    /// Anything else (e.g. `bitfleet create`'s info-hash and magnet lines).
    Text(String),
    /// Claims to be a contract event but does not match it: always a failure.
    Malformed { line: String, error: String },
}

const CONTRACT_EVENTS: [&str; 4] = ["started", "progress", "complete", "stopped"];

impl Line {
    pub fn parse(line: &str) -> Line {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            return Line::Text(line.to_owned());
        };
        let name = value.get("event").and_then(|e| e.as_str());
        if !name.is_some_and(|n| CONTRACT_EVENTS.contains(&n)) {
            return match value {
                serde_json::Value::Object(_) => Line::Json(value),
                _ => Line::Text(line.to_owned()),
            };
        }
        match serde_json::from_value::<Event>(value) {
            Ok(event) => Line::Event(event),
            Err(error) => Line::Malformed {
                line: line.to_owned(),
                error: error.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_contract_event() {
        let started =
            r#"{"event":"started","info_hash":"ab","name":"n","total":5,"pieces":1,"port":7}"#;
        assert!(matches!(Line::parse(started), Line::Event(Event::Started(s)) if s.port == 7));
        let stats = r#""have":1,"pieces":2,"downloaded":3,"uploaded":4,"down_rate":5.5,"up_rate":6,"peers":7,"hash_failures":8,"wasted":9"#;
        for kind in ["progress", "complete", "stopped"] {
            let line = format!(r#"{{"event":"{kind}",{stats},"extra":true}}"#);
            let Line::Event(event) = Line::parse(&line) else {
                panic!("{kind} did not parse");
            };
            assert_eq!(event.stats().map(|s| s.hash_failures), Some(8));
        }
    }

    #[test]
    fn contract_event_with_missing_field_is_malformed() {
        let line = r#"{"event":"progress","have":1}"#;
        assert!(matches!(Line::parse(line), Line::Malformed { .. }));
    }

    #[test]
    fn other_lines_are_kept_verbatim() {
        assert_eq!(Line::parse("abc 123"), Line::Text("abc 123".into()));
        assert_eq!(Line::parse("42"), Line::Text("42".into()));
        assert!(matches!(
            Line::parse(r#"{"event":"poisoned","piece":3}"#),
            Line::Json(_)
        ));
    }
}
