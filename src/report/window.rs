//! The time window of a report: parsing `--since`/`--until`, and printing instants.
//!
//! Reports are about "the last week" as often as about "October", so a bound is either an age
//! relative to now (`7d`, `24h`, `30m`) or a calendar instant (`2026-10-01`,
//! `2026-10-01T12:00`). Calendar instants are UTC, like every time the reports print: Koji
//! stores `timestamptz`, and a DBA comparing with logs from several sites wants one clock.
//! The calendar arithmetic is the proleptic Gregorian day count, small enough to keep here
//! rather than pull in a date library for two conversions.

/// A time window, in Unix seconds, `since < until`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub since: f64,
    pub until: f64,
}

impl Window {
    /// Parses both bounds against `now`. An `--until` in the future is cut at `now`: nothing has
    /// happened there yet, and still-running tasks are counted up to the window's end.
    pub fn parse(since: &str, until: &str, now: f64) -> Result<Window, String> {
        let since_at = parse_instant(since, now).map_err(|problem| format!("--since {problem}"))?;
        let until_at = parse_instant(until, now).map_err(|problem| format!("--until {problem}"))?.min(now);
        if since_at >= until_at {
            return Err(format!(
                "--since {} is not before --until {}; give an earlier --since, e.g. --since 7d",
                format_minute(since_at),
                format_minute(until_at)
            ));
        }
        Ok(Window { since: since_at, until: until_at })
    }

    pub fn seconds(&self) -> f64 {
        self.until - self.since
    }
}

const EXAMPLES: &str = "use a date (2026-10-01), a UTC date and time (2026-10-01T12:00) or an age (7d, 24h, 30m)";

/// One bound: `now`, an age `<N>d|h|m`, `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM[:SS][Z]` (UTC).
pub fn parse_instant(text: &str, now: f64) -> Result<f64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a time; {EXAMPLES}");
    if text == "now" {
        return Ok(now);
    }
    if let Some(unit) = text.chars().last().filter(|c| matches!(c, 'd' | 'h' | 'm')) {
        let number = &text[..text.len() - 1];
        if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) {
            let count: f64 = number.parse().map_err(|_| bad())?;
            let unit_seconds = match unit {
                'd' => 86_400.0,
                'h' => 3_600.0,
                _ => 60.0,
            };
            return Ok(now - count * unit_seconds);
        }
    }
    let text_utc = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text_utc.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text_utc, None),
    };
    let date_parts: Vec<&str> = date.split('-').collect();
    let [year, month, day] = date_parts[..] else { return Err(bad()) };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(bad());
    }
    let number = |part: &str| -> Result<i64, String> {
        if part.chars().all(|c| c.is_ascii_digit()) { part.parse().map_err(|_| bad()) } else { Err(bad()) }
    };
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    if !(1..=12).contains(&month) || day < 1 || civil_from_days(days_from_civil(year, month, day)) != (year, month, day)
    {
        return Err(format!("{text:?} is not a calendar date; {EXAMPLES}"));
    }
    let mut seconds_of_day = 0;
    if let Some(time) = time {
        let parts: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|part| part.len() != 2) {
            return Err(bad());
        }
        let hour = number(parts[0])?;
        let minute = number(parts[1])?;
        let second = if parts.len() == 3 { number(parts[2])? } else { 0 };
        if hour > 23 || minute > 59 || second > 59 {
            return Err(format!("{text:?} is not a time of day; {EXAMPLES}"));
        }
        seconds_of_day = hour * 3600 + minute * 60 + second;
    }
    Ok((days_from_civil(year, month, day) * 86_400 + seconds_of_day) as f64)
}

/// Days since 1970-01-01 of a Gregorian date (month 1-12). Years are counted from March so that
/// the leap day ends a year; an era is 400 years of 146097 days.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn parts(at: f64) -> (i64, i64, i64, i64, i64, i64) {
    let whole = at.floor() as i64;
    let (year, month, day) = civil_from_days(whole.div_euclid(86_400));
    let second_of_day = whole.rem_euclid(86_400);
    (year, month, day, second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60)
}

/// `2026-10-01 12:00` (UTC), for tables.
pub fn format_minute(at: f64) -> String {
    let (year, month, day, hour, minute, _) = parts(at);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

/// `2026-10-01T12:00:05Z`, for CSV and JSON.
pub fn format_iso(at: f64) -> String {
    let (year, month, day, hour, minute, second) = parts(at);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// The start of the UTC hour that contains `at`.
pub fn hour_start(at: f64) -> f64 {
    (at / 3600.0).floor() * 3600.0
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-29T12:00:00Z: 20_786 days after 1970-01-01 (worked out below) plus 12 h.
    const NOW: f64 = 1_795_953_600.0;

    #[test]
    fn calendar_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2026-11-29: 56 years of 365 days + 14 leap days (1972..2024) + 332 days into 2026.
        assert_eq!(days_from_civil(2026, 11, 29), 56 * 365 + 14 + 332);
        assert_eq!(civil_from_days(56 * 365 + 14 + 332), (2026, 11, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn ages_count_back_from_now() {
        assert_eq!(parse_instant("7d", NOW), Ok(NOW - 7.0 * 86_400.0));
        assert_eq!(parse_instant("24h", NOW), Ok(NOW - 86_400.0));
        assert_eq!(parse_instant("30m", NOW), Ok(NOW - 1_800.0));
        assert_eq!(parse_instant("now", NOW), Ok(NOW));
    }

    #[test]
    fn calendar_instants_are_utc() {
        assert_eq!(parse_instant("2026-11-29", NOW), Ok(NOW - 12.0 * 3600.0));
        assert_eq!(parse_instant("2026-11-29T12:00", NOW), Ok(NOW));
        assert_eq!(parse_instant("2026-11-29T12:00:30Z", NOW), Ok(NOW + 30.0));
        assert_eq!(parse_instant("2026-11-29 13:30", NOW), Ok(NOW + 5400.0));
        assert_eq!(format_minute(NOW + 5400.0), "2026-11-29 13:30");
        assert_eq!(format_iso(NOW + 59.0), "2026-11-29T12:00:59Z");
        assert_eq!(hour_start(NOW + 5400.0), NOW + 3600.0);
    }

    #[test]
    fn bad_values_get_one_line_with_an_example() {
        for bad in ["yesterday", "7", "7w", "-3d", "2026-13-01", "2026-02-30", "2026-10-01T25:00", "26-10-01", "d"] {
            let error = parse_instant(bad, NOW).unwrap_err();
            assert!(error.contains("7d") && !error.contains('\n'), "{bad}: {error}");
        }
        let error = Window::parse("2026-11-29", "2026-11-01", NOW).unwrap_err();
        assert!(error.starts_with("--since 2026-11-29 00:00 is not before --until 2026-11-01 00:00"), "{error}");
        assert!(Window::parse("nonsense", "now", NOW).unwrap_err().starts_with("--since \"nonsense\""));
    }

    #[test]
    fn a_future_until_stops_at_now() {
        let window = Window::parse("1d", "2030-01-01", NOW).unwrap();
        assert_eq!(window, Window { since: NOW - 86_400.0, until: NOW });
        assert_eq!(window.seconds(), 86_400.0);
    }
}
