//! Human-readable quantities in scenario files: sizes ("50 GB", "512 KiB"), rates
//! ("10 Mbit/s", "1 Gbit/s") and durations ("200ms", "1.5h").

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {kind} {text:?}: {why}")]
pub struct BadQuantity {
    kind: &'static str,
    text: String,
    why: &'static str,
}

fn split(kind: &'static str, text: &str) -> Result<(f64, String), BadQuantity> {
    let bad = |why| BadQuantity {
        kind,
        text: text.to_owned(),
        why,
    };
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let number: f64 = t[..end]
        .replace('_', "")
        .parse()
        .map_err(|_| bad("no number"))?;
    if !number.is_finite() || number < 0.0 {
        return Err(bad("not a non-negative number"));
    }
    Ok((number, t[end..].trim().to_owned()))
}

/// Bytes: decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB) units; a bare number is bytes.
pub fn parse_size(text: &str) -> Result<f64, BadQuantity> {
    let (n, unit) = split("size", text)?;
    let factor = match unit.as_str() {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(BadQuantity {
                kind: "size",
                text: text.to_owned(),
                why: "unknown unit (B, kB, MB, GB, TB, KiB, MiB, GiB)",
            })
        }
    };
    Ok(n * factor)
}

/// A rate in bytes per second, from bit rates ("10 Mbit/s") or byte rates ("5 MB/s").
pub fn parse_rate(text: &str) -> Result<f64, BadQuantity> {
    let (n, unit) = split("rate", text)?;
    let factor = match unit.as_str() {
        "bit/s" => 1.0 / 8.0,
        "kbit/s" => 1e3 / 8.0,
        "Mbit/s" => 1e6 / 8.0,
        "Gbit/s" => 1e9 / 8.0,
        "B/s" => 1.0,
        "kB/s" => 1e3,
        "MB/s" => 1e6,
        "GB/s" => 1e9,
        _ => {
            return Err(BadQuantity {
                kind: "rate",
                text: text.to_owned(),
                why: "unknown unit (bit/s, kbit/s, Mbit/s, Gbit/s, B/s, kB/s, MB/s, GB/s)",
            })
        }
    };
    Ok(n * factor)
}

pub fn parse_duration(text: &str) -> Result<Duration, BadQuantity> {
    let (n, unit) = split("duration", text)?;
    let secs = match unit.as_str() {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(BadQuantity {
                kind: "duration",
                text: text.to_owned(),
                why: "unknown unit (us, ms, s, min, h)",
            })
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| BadQuantity {
        kind: "duration",
        text: text.to_owned(),
        why: "out of range",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_with_their_units() {
        assert_eq!(parse_size("50 GB"), Ok(50e9));
        assert_eq!(parse_size("512KiB"), Ok(524288.0));
        assert_eq!(parse_size("1_000"), Ok(1000.0));
        assert_eq!(parse_rate("10 Mbit/s"), Ok(1.25e6));
        assert_eq!(parse_rate("2 MB/s"), Ok(2e6));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_size("GB").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_rate("10 Mbps").is_err());
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("1e400 h").is_err());
    }
}
