//! `RATE` arguments: bytes/s with an optional K/M/G suffix (powers of 1024).

/// Parses `512`, `64K`, `1M`, `2g`.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (use K, M or G)")),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a rate like 512, 64K, 1M or 2G"))?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_powers_of_1024() {
        assert_eq!(parse_rate("512"), Ok(512));
        assert_eq!(parse_rate("64K"), Ok(64 << 10));
        assert_eq!(parse_rate("1M"), Ok(1 << 20));
        assert_eq!(parse_rate("2g"), Ok(2 << 30));
        assert_eq!(parse_rate("0"), Ok(0));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "K",
            "1X",
            "-1",
            "1.5M",
            "99999999999999999999G",
            "18446744073709551615K",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
    }
}
