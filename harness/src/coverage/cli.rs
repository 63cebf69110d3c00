//! `acmespec coverage`: the requirement coverage report.

use crate::cli_support::{load_catalogue, usage_error};
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
/// `acmespec coverage`.
#[allow(missing_docs)]
pub struct CoverageArgs {
    /// Read case files from this scenarios directory instead of the built-in catalogue.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CoverageFormat::Md)]
    format: CoverageFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum CoverageFormat {
    Md,
    Json,
}

/// Prints the coverage of the catalogue.
pub fn coverage(args: CoverageArgs) -> ExitCode {
    let catalogue = match load_catalogue(args.scenarios.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let cov = crate::coverage::Coverage::of(&catalogue);
    match args.format {
        CoverageFormat::Md => print!("{}", cov.to_markdown(&catalogue)),
        CoverageFormat::Json => println!("{}", serde_json::to_string_pretty(&cov).unwrap_or_default()),
    }
    ExitCode::SUCCESS
}
