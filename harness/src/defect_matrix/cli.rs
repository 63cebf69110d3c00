//! `acmespec defect-matrix`: the catalogue against the mock CA with each defect.

use crate::cli_support::{load_catalogue, usage_error};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
/// `acmespec defect-matrix`.
#[allow(missing_docs)]
pub struct MatrixArgs {
    /// Read case files from this scenarios directory instead of the built-in catalogue.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Write the matrix as Markdown here (e.g. reports/defect-matrix.md).
    #[arg(long)]
    md: Option<PathBuf>,
    /// Suite runs in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// Runs the defect matrix and prints it (exit 1 when a defect or case is off).
pub async fn defect_matrix(args: MatrixArgs) -> ExitCode {
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let matrix = match crate::defect_matrix::DefectMatrix::run(&catalogue, args.concurrency).await {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    println!("clean: {}", matrix.clean.summary);
    for (d, failing) in &matrix.broken {
        println!("{}:", d.name());
        for (id, n) in failing {
            let by = n.blocked_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            println!("    {id} ({}{by})", n.verdict.name());
        }
    }
    if let Some(path) = &args.md
        && let Err(e) = std::fs::write(path, matrix.to_markdown(&catalogue))
    {
        return usage_error(format!("--md {}: {e}", path.display()));
    }
    let uncovered = matrix.uncovered(&catalogue);
    let mut mismatches = matrix.declaration_mismatches();
    mismatches.extend(matrix.blocked_mismatches());
    for id in &uncovered {
        println!("no defect fails {id}");
    }
    for m in &mismatches {
        println!("{m}");
    }
    let clean_ok = matrix.clean.summary.pass == matrix.clean.summary.total;
    if clean_ok && uncovered.is_empty() && mismatches.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
