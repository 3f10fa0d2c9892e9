//! The week a deck covers: an ISO week (`2026-W47`) in a time zone, from Monday 00:00 to
//! the next Monday 00:00 local time (167 or 169 hours across a DST change).

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week {
    pub year: i32,
    pub week: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeekError {
    #[error("--week {0:?}: expected an ISO week such as 2026-W47")]
    Syntax(String),
    #[error("--week {input:?}: {year} has weeks 1 to {last}")]
    Range { input: String, year: i32, last: u32 },
    #[error("--timezone {0:?}: unknown time zone (use an IANA name such as Europe/Berlin or UTC)")]
    Zone(String),
}

/// The number of ISO weeks of a year (52 or 53): the week of 28 December.
pub fn weeks_in(year: i32) -> u32 {
    NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| d.iso_week().week())
}

impl FromStr for Week {
    type Err = WeekError;

    fn from_str(s: &str) -> Result<Week, WeekError> {
        let syntax = || WeekError::Syntax(s.to_string());
        let (y, w) = s.split_once("-W").ok_or_else(syntax)?;
        if y.len() != 4 || w.len() != 2 || !y.bytes().chain(w.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let year: i32 = y.parse().map_err(|_| syntax())?;
        let week: u32 = w.parse().map_err(|_| syntax())?;
        let last = weeks_in(year);
        if week == 0 || week > last {
            return Err(WeekError::Range {
                input: s.to_string(),
                year,
                last,
            });
        }
        Ok(Week { year, week })
    }
}

impl std::fmt::Display for Week {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

pub fn parse_zone(s: &str) -> Result<Tz, WeekError> {
    Tz::from_str(s).map_err(|_| WeekError::Zone(s.to_string()))
}

/// A local time as an instant; a local time skipped by a DST change is taken an hour later.
fn instant(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&t)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(t + Duration::hours(1))).earliest())
        .map_or_else(|| Utc.from_utc_datetime(&t), |d| d.with_timezone(&Utc))
}

impl Week {
    pub fn monday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or_default()
    }

    /// The week that contains `date`.
    pub fn of(date: NaiveDate) -> Week {
        let w = date.iso_week();
        Week {
            year: w.year(),
            week: w.week(),
        }
    }

    pub fn previous(self) -> Week {
        Week::of(self.monday() - Duration::days(7))
    }

    pub fn next(self) -> Week {
        Week::of(self.monday() + Duration::days(7))
    }

    /// The last week that ended before `now` in `tz`.
    pub fn last_complete(now: DateTime<Utc>, tz: Tz) -> Week {
        Week::of(now.with_timezone(&tz).date_naive()).previous()
    }

    pub fn period(self, tz: Tz) -> Period {
        let monday = self.monday();
        Period {
            week: self,
            tz,
            start: instant(tz, monday.and_time(Default::default())),
            end: instant(
                tz,
                (monday + Duration::days(7)).and_time(Default::default()),
            ),
        }
    }
}

/// One week as instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub week: Week,
    pub tz: Tz,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    pub fn hours(&self) -> usize {
        ((self.end - self.start).num_seconds() / 3600).max(0) as usize
    }

    /// "16 Nov 2026 to 22 Nov 2026".
    pub fn dates(&self) -> String {
        let last = self.week.monday() + Duration::days(6);
        format!(
            "{} to {}",
            self.week.monday().format("%-d %b %Y"),
            last.format("%-d %b %Y")
        )
    }

    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_weeks() {
        assert_eq!(
            "2026-W47".parse(),
            Ok(Week {
                year: 2026,
                week: 47
            })
        );
        assert_eq!(
            "2025-W53".parse::<Week>(),
            Err(WeekError::Range {
                input: "2025-W53".into(),
                year: 2025,
                last: 52
            })
        );
        assert!("2026-W53".parse::<Week>().is_ok(), "2026 has 53 weeks");
        for bad in ["2026W47", "2026-W7", "26-W47", "2026-w47", "2026-W4x", ""] {
            assert!(
                matches!(bad.parse::<Week>(), Err(WeekError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!(
            Week {
                year: 2026,
                week: 1
            }
            .previous(),
            Week {
                year: 2025,
                week: 52
            }
        );
        assert_eq!(
            Week {
                year: 2026,
                week: 53
            }
            .next(),
            Week {
                year: 2027,
                week: 1
            }
        );
    }

    #[test]
    fn periods_follow_the_time_zone() {
        let berlin = parse_zone("Europe/Berlin").unwrap_or(Tz::UTC);
        let p = Week {
            year: 2026,
            week: 47,
        }
        .period(berlin);
        assert_eq!(p.start.to_rfc3339(), "2026-11-15T23:00:00+00:00");
        assert_eq!(p.hours(), 168);
        assert_eq!(p.dates(), "16 Nov 2026 to 22 Nov 2026");
        // The week of the change to summer time has 167 hours.
        let of = |m, d| Week::of(NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default());
        assert_eq!(of(3, 29).period(berlin).hours(), 167);
        assert_eq!(of(10, 25).period(berlin).hours(), 169);
        assert!(parse_zone("Europe/Berln").is_err());
        let now = Utc
            .with_ymd_and_hms(2026, 11, 22, 23, 30, 0)
            .single()
            .unwrap_or_default();
        // Already Monday in Berlin: the last complete week is W47.
        assert_eq!(
            Week::last_complete(now, berlin),
            Week {
                year: 2026,
                week: 47
            }
        );
        assert_eq!(
            Week::last_complete(now, Tz::UTC),
            Week {
                year: 2026,
                week: 46
            }
        );
    }
}
