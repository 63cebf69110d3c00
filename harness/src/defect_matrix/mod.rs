//! The defect matrix: the catalogue against the clean mock CA and against each
//! defect, which proves every case can fail and that the mock CA is the reference.

pub mod cli;

use crate::mockca::{Defect, MockCa, MockCaConfig, MockCaError, NewOrderLimit};
use crate::protocol::http::ClientOptions;
use crate::responders::Responders;
use crate::runner::{
    self, Capabilities, EabCredentials, PROFILE_WITHDRAWAL, ProfilePolicy, RateLimit, RateLimitedEndpoint, RunOptions, RunReport, SetupError, TOS_CHANGE,
    Trigger, Verdict,
};
use crate::scenario::{Catalogue, Feature};
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

/// The mock CA as the catalogue's reference: every optional policy switched on (EAB
/// and terms agreement required, terms changeable through the management listener, a
/// newOrder rate limit), so that the cases about them run and pass instead of being
/// `unsupported`.
#[derive(Debug)]
pub struct Reference {
    /// The running mock CA.
    pub ca: MockCa,
    /// The EAB credentials it accepts.
    pub eab: EabCredentials,
    /// What it offers, for the runner.
    pub capabilities: Capabilities,
}

/// The reference's newOrder limit: far above the few orders any other case makes per
/// account, and a window no run outlasts, so only the §6.6 cases reach it.
const REFERENCE_ORDER_LIMIT: NewOrderLimit = NewOrderLimit { requests: 10, window: std::time::Duration::from_secs(3600) };

impl Reference {
    /// Starts the reference mock CA validating against `responders`, with `defects`.
    pub async fn start(responders: &Responders, defects: &[Defect]) -> Result<Reference, MatrixError> {
        let mac_key = crate::protocol::random::bytes(32);
        let eab = EabCredentials { kid: "acmespec-reference".into(), mac_key };
        let ca = MockCa::start(MockCaConfig {
            management_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            va_http_port: responders.http01().local_addr().port(),
            va_tls_port: responders.tls_alpn().local_addr().port(),
            va_resolver: Some(responders.dns().local_addr()),
            defects: defects.to_vec(),
            eab_keys: vec![(eab.kid.clone(), eab.mac_key.clone())],
            terms_required: true,
            new_order_limit: Some(REFERENCE_ORDER_LIMIT),
            ..MockCaConfig::default()
        })
        .await?;
        let management = ca.management_url().unwrap_or_default();
        let capabilities = Capabilities {
            features: [Feature::EabRequired, Feature::TermsRequired, Feature::TosChange, Feature::RenewalInfo]
                .into_iter()
                .map(|f| (f, true))
                .collect(),
            triggers: [
                (
                    TOS_CHANGE.to_owned(),
                    Trigger {
                        method: "POST".into(),
                        url: format!("{management}/change-terms"),
                        body: Some(r#"{"account": "{account_url}"}"#.into()),
                    },
                ),
                (
                    PROFILE_WITHDRAWAL.to_owned(),
                    Trigger {
                        method: "POST".into(),
                        url: format!("{management}/withdraw-profile"),
                        body: Some(r#"{"profile": "shortlived"}"#.into()),
                    },
                ),
            ]
            .into_iter()
            .collect(),
            rate_limit: Some(RateLimit { endpoint: RateLimitedEndpoint::NewOrder, requests: REFERENCE_ORDER_LIMIT.requests }),
            // The default profile set: tlsserver is for DNS names only, and the run
            // withdraws shortlived, which no other case orders.
            profiles: ProfilePolicy { dns_only: Some("tlsserver".into()), withdrawn: Some("shortlived".into()) },
        };
        Ok(Reference { ca, eab, capabilities })
    }

    /// Run options for testing this CA: its HTTPS root, its EAB credentials, its capabilities.
    pub fn run_options(&self) -> RunOptions {
        let mut options = RunOptions::new(self.ca.directory_url());
        options.client = ClientOptions {
            ca_certs: vec![CertificateDer::from(self.ca.https_root_der().to_vec())],
            ..ClientOptions::default()
        };
        options.eab = Some(self.eab.clone());
        options.capabilities = self.capabilities.clone();
        options
    }
}

/// Runs the catalogue against a fresh reference mock CA with `defects` switched on,
/// validating against fresh responders on free loopback ports.
pub async fn run_against_mock_ca(catalogue: &Catalogue, defects: &[Defect]) -> Result<RunReport, MatrixError> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let responders = Responders::start(any, any, any).await.map_err(MatrixError::Responders)?;
    let reference = Reference::start(&responders, defects).await?;
    Ok(runner::run(catalogue, &reference.run_options(), &responders, |_| {}).await?)
}

/// The verdicts of the clean run and of one run per defect.
#[derive(Debug, Clone)]
pub struct DefectMatrix {
    /// The clean mock CA's run.
    pub clean: RunReport,
    /// Per defect: the cases that did not pass.
    pub broken: BTreeMap<Defect, BTreeMap<String, NotPassed>>,
}

/// How a case did not pass under a defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPassed {
    /// Its verdict.
    pub verdict: Verdict,
    /// For `blocked`: the case that judges the step that broke.
    pub blocked_by: Option<String>,
}

impl NotPassed {
    /// Whether the case itself judged the defect (rather than being blocked by it).
    pub fn judged(&self) -> bool {
        self.verdict != Verdict::Blocked
    }
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
            let failing = report
                .cases
                .iter()
                .filter(|c| c.verdict != Verdict::Pass)
                .map(|c| (c.id.clone(), NotPassed { verdict: c.verdict, blocked_by: c.blocked_by.clone() }))
                .collect();
            broken.insert(d, failing);
        }
        Ok(DefectMatrix { clean, broken })
    }

    /// Cases no defect makes fail (being blocked does not count): checks that could not fail.
    pub fn uncovered<'a>(&self, catalogue: &'a Catalogue) -> Vec<&'a str> {
        catalogue
            .cases
            .iter()
            .map(|c| c.def.id.as_str())
            .filter(|id| !self.broken.values().any(|f| f.get(*id).is_some_and(NotPassed::judged)))
            .collect()
    }

    /// Differences between what each defect declares and what it did; blocked cases
    /// are not the defect's failures and are held to [`Self::blocked_mismatches`].
    pub fn declaration_mismatches(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (d, failing) in &self.broken {
            let declared: Vec<&str> = d.fails().to_vec();
            for (id, not_passed) in failing.iter().filter(|(_, n)| n.judged()) {
                if !declared.contains(&id.as_str()) {
                    out.push(format!("defect {} also fails {id} ({})", d.name(), not_passed.verdict.name()));
                }
            }
            for id in declared {
                match failing.get(id) {
                    None => out.push(format!("defect {} should fail {id} but it passed", d.name())),
                    Some(n) if !n.judged() => {
                        out.push(format!("defect {} should fail {id} but blocks it instead", d.name()));
                    }
                    Some(_) => {}
                }
            }
        }
        out
    }

    /// One root cause, one failure: under each defect, every blocked case must name
    /// the case that judges the broken step, and that case must fail under the same
    /// defect.
    pub fn blocked_mismatches(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (d, failing) in &self.broken {
            for (id, n) in failing.iter().filter(|(_, n)| !n.judged()) {
                match &n.blocked_by {
                    None => out.push(format!("defect {} blocks {id} at a step no case judges", d.name())),
                    Some(by) if !failing.get(by).is_some_and(NotPassed::judged) => out.push(format!(
                        "defect {} blocks {id} by {by}, which does not fail under it",
                        d.name()
                    )),
                    Some(_) => {}
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
                .filter_map(|(d, f)| f.get(&c.def.id).filter(|n| n.judged()).map(|n| format!("`{}` ({})", d.name(), n.verdict.name())))
                .collect();
            let cell = if defects.is_empty() { "**none**".to_owned() } else { defects.join(", ") };
            let _ = writeln!(md, "| `{}` | {cell} |", c.def.id);
        }
        md.push_str("\n| defect | what it breaks | cases it fails | cases it blocks |\n|---|---|---|---|\n");
        for (d, f) in &self.broken {
            let judged = f.values().filter(|n| n.judged()).count();
            let _ = writeln!(md, "| `{}` | {} | {judged} | {} |", d.name(), d.description(), f.len() - judged);
        }
        md
    }
}
