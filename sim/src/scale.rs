//! Scales of a simulated Koji: how much history `create` writes, and the row counts it promises.
//!
//! The sizes follow the targets (large: 10^7 tasks, 200 hosts, 20k tags, 50k packages,
//! 10^6 builds, 10^7 tag_listing rows) and shrink by ten per step; `tiny` exists so tests run in
//! seconds.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Tiny,
    Small,
    Medium,
    Large,
}

/// The sizes of one scale.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub tasks: i64,
    pub hosts: i64,
    pub tags: i64,
    pub packages: i64,
    pub builds: i64,
    pub listings: i64,
    pub people: i64,
    pub releases: i64,
    /// Length of the history in days; the last few hours hold the running work.
    pub days: f64,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Tiny => "tiny",
            Scale::Small => "small",
            Scale::Medium => "medium",
            Scale::Large => "large",
        }
    }

    pub fn sizes(self) -> Sizes {
        let (tasks, hosts, tags, packages, people, releases, days) = match self {
            Scale::Tiny => (10_000, 10, 100, 500, 20, 4, 3.0),
            Scale::Small => (100_000, 20, 500, 2_000, 50, 6, 20.0),
            Scale::Medium => (1_000_000, 60, 2_000, 10_000, 200, 10, 120.0),
            Scale::Large => (10_000_000, 200, 20_000, 50_000, 1_000, 20, 730.0),
        };
        Sizes { tasks, hosts, tags, packages, builds: tasks / 10, listings: tasks, people, releases, days }
    }

    /// Events of the history: enough that versioned rows rarely share one.
    pub fn events(self) -> i64 {
        (self.sizes().tasks / 4).max(20_000)
    }
}

impl FromStr for Scale {
    type Err = String;

    fn from_str(text: &str) -> Result<Scale, String> {
        match text {
            "tiny" => Ok(Scale::Tiny),
            "small" => Ok(Scale::Small),
            "medium" => Ok(Scale::Medium),
            "large" => Ok(Scale::Large),
            other => Err(format!("unknown scale {other:?}; use tiny, small, medium or large")),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
