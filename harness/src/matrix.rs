//! The defect matrix: the catalogue against the clean mock CA and against each
//! defect, which proves every case can fail and that the mock CA is the reference.

use crate::mockca::{Defect, MockCa, MockCaConfig, MockCaError};
use crate::protocol::http::ClientOptions;
use crate::responders::Responders;
use crate::runner::{self, RunOptions, RunReport, SetupError, Verdict};
use crate::scenario::Catalogue;
use futures_util::StreamExt;
use rustls_pki_types::CertificateDer;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Why a matrix run could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MatrixError {
    /// The responders could not bind.
    #[error("cannot start responders: {0}")]
    Responders(std::io::Error),
    /// The mock CA could not start.
    #[error(transparent)]
    MockCa(#[from] MockCaError),
    /// The run could not start.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Runs the catalogue against a fresh mock CA with `defects` switched on, validating
/// against fresh responders on free loopback ports.
pub async fn run_against_mock_ca(catalogue: &Catalogue, defects: &[Defect]) -> Result<RunReport, MatrixError> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let responders = Responders::start(any, any, any).await.map_err(MatrixError::Responders)?;
    let ca = MockCa::start(MockCaConfig {
        va_http_port: responders.http01().local_addr().port(),
        va_tls_port: responders.tls_alpn().local_addr().port(),
        va_resolver: Some(responders.dns().local_addr()),
        defects: defects.to_vec(),
        ..MockCaConfig::default()
    })
    .await?;
    let mut options = RunOptions::new(ca.directory_url());
    options.client = ClientOptions {
        ca_certs: vec![CertificateDer::from(ca.https_root_der().to_vec())],
        ..ClientOptions::default()
    };
    Ok(runner::run(catalogue, &options, &responders, |_| {}).await?)
}

/// The verdicts of the clean run and of one run per defect.
#[derive(Debug, Clone)]
pub struct DefectMatrix {
    /// The clean mock CA's run.
    pub clean: RunReport,
    /// Per defect: the cases that did not pass, with their verdicts.
    pub broken: BTreeMap<Defect, BTreeMap<String, Verdict>>,
}

impl DefectMatrix {
    /// Runs the clean suite and every defect, `concurrency` runs at a time.
    pub async fn run(catalogue: &Catalogue, concurrency: usize) -> Result<Self, MatrixError> {
        let clean = run_against_mock_ca(catalogue, &[]).await?;
        let results: Vec<(Defect, Result<RunReport, MatrixError>)> = futures_util::stream::iter(Defect::ALL.iter().copied())
            .map(|d| async move { (d, run_against_mock_ca(catalogue, &[d]).await) })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut broken = BTreeMap::new();
        for (d, report) in results {
            let report = report?;
            let failing =
                report.cases.iter().filter(|c| c.verdict != Verdict::Pass).map(|c| (c.id.clone(), c.verdict)).collect();
            broken.insert(d, failing);
        }
        Ok(DefectMatrix { clean, broken })
    }

    /// Cases no defect makes fail: checks that could not fail.
    pub fn uncovered<'a>(&self, catalogue: &'a Catalogue) -> Vec<&'a str> {
        catalogue
            .cases
            .iter()
            .map(|c| c.def.id.as_str())
            .filter(|id| !self.broken.values().any(|f| f.contains_key(*id)))
            .collect()
    }

    /// Differences between what each defect declares and what it did.
    pub fn declaration_mismatches(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (d, failing) in &self.broken {
            let declared: Vec<&str> = d.fails().to_vec();
            for id in failing.keys() {
                if !declared.contains(&id.as_str()) {
                    out.push(format!("defect {} also fails {id} ({})", d.name(), failing[id].name()));
                }
            }
            for id in declared {
                if !failing.contains_key(id) {
                    out.push(format!("defect {} should fail {id} but it passed", d.name()));
                }
            }
        }
        out
    }

    /// The matrix as Markdown: per case, the defects that make it fail.
    pub fn to_markdown(&self, catalogue: &Catalogue) -> String {
        let mut md = String::from("# Defect matrix\n\n");
        md.push_str(
            "Every conformance case must pass against the clean mock CA and fail against at least one \
             defect. Regenerate with `acmespec defect-matrix --md reports/defect-matrix.md`; \
             `harness/tests/defect_matrix.rs` checks the same on every CI run.\n\n",
        );
        let s = &self.clean.summary;
        let _ = writeln!(md, "Clean mock CA: {} cases, {s}.\n", s.total);
        md.push_str("| case | defects that make it fail |\n|---|---|\n");
        for c in &catalogue.cases {
            let defects: Vec<String> = self
                .broken
                .iter()
                .filter_map(|(d, f)| f.get(&c.def.id).map(|v| format!("`{}` ({})", d.name(), v.name())))
                .collect();
            let cell = if defects.is_empty() { "**none**".to_owned() } else { defects.join(", ") };
            let _ = writeln!(md, "| `{}` | {cell} |", c.def.id);
        }
        md.push_str("\n| defect | what it breaks | cases it fails |\n|---|---|---|\n");
        for (d, f) in &self.broken {
            let _ = writeln!(md, "| `{}` | {} | {} |", d.name(), d.description(), f.len());
        }
        md
    }
}
