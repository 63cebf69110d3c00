//! What a person watching a run sees as cases finish.
//!
//! At a terminal a bar shows how far the run is and which case finished last, with every
//! non-pass case printed above it as it comes, so a 200-case run fits on one screen. A CI
//! log or a pipe gets one plain line per case instead (nothing is redrawn there, and
//! `CI` set means a log even when a pseudo-terminal is attached). `NO_COLOR` turns colour
//! off (<https://no-color.org>).

use crate::runner::{CaseResult, Verdict};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Prints the cases of a run as they finish.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    color: bool,
    printed: usize,
}

impl Progress {
    /// Progress over `total` cases, drawn as a bar only on an interactive terminal.
    pub fn new(total: usize) -> Progress {
        let interactive = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
        let color = interactive && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let bar = interactive.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stdout());
            if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}") {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar, color, printed: 0 }
    }

    /// Shows the cases of `cases` not shown yet (they arrive in catalogue order).
    pub fn update(&mut self, cases: &[CaseResult]) {
        for case in &cases[self.printed.min(cases.len())..] {
            let lines = self.lines(case);
            match &self.bar {
                Some(bar) => {
                    if case.verdict != Verdict::Pass {
                        bar.println(lines);
                    }
                    bar.inc(1);
                    bar.set_message(case.id.clone());
                }
                None => println!("{lines}"),
            }
        }
        self.printed = cases.len();
    }

    /// Clears the bar and prints the closing line.
    pub fn finish(&self, closing: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        println!("{closing}");
    }

    fn lines(&self, c: &CaseResult) -> String {
        let (tag, color) = match c.verdict {
            Verdict::Pass => ("PASS", "32"),
            Verdict::Fail => ("FAIL", "31"),
            Verdict::NonStrict => ("NON-STRICT", "33"),
            Verdict::Unsupported => ("UNSUPPORTED", "36"),
            Verdict::Blocked => ("BLOCKED", "34"),
            Verdict::Error => ("ERROR", "35"),
        };
        let tag = if self.color { format!("\x1b[{color}m{tag:<11}\x1b[0m") } else { format!("{tag:<11}") };
        let mut out = format!("{tag} {} ({} ms)", c.id, c.duration_ms);
        if c.verdict != Verdict::Pass {
            for (label, text) in [("expected", &c.expected), ("observed", &c.observed), ("blocked by", &c.blocked_by)] {
                if let Some(text) = text {
                    out += &format!("\n            {label}: {text}");
                }
            }
        }
        out
    }
}
