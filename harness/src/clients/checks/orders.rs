//! Checks of RFC 8555 §7.4 and what builds on it: the CSR, when the client finalizes
//! and downloads, the preferred chain (§7.4.2), renewal information (RFC 9773) and
//! certificate profiles (draft-ietf-acme-profiles).

use super::*;

pub(super) fn csr_names_match_order(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::Finalize) {
        let Some(origin) = order_id(e).and_then(|id| run.origins.get(id)) else { continue };
        let orders = run.ordered_names(origin);
        if orders.is_empty() {
            continue;
        }
        let Some(csr) = finalize_csr(e) else { continue };
        out.judge();
        let mut seqs = vec![e.seq];
        seqs.extend(orders.iter().map(|(s, _)| *s));
        match csr {
            Err(why) => out.fail(seqs, format!("{} {why}", label(e))),
            Ok(csr) if orders.iter().any(|(_, names)| *names == csr.names) => {}
            Ok(csr) => {
                let wanted: Vec<String> = orders.iter().map(|(s, names)| format!("{} (newOrder seq {s})", list(names))).collect();
                out.fail(seqs, format!("{} requested {} but the order has {}", label(e), list(&csr.names), wanted.join(" or ")));
            }
        }
    }
    out
}

pub(super) fn csr_key_not_account_key(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::Finalize) {
        let Some(Ok(csr)) = finalize_csr(e) else { continue };
        out.judge();
        let Some(key) = csr.key else { continue };
        if let Some((_, p)) = run.account_keys.iter().find(|(k, _)| *k == key) {
            let shown = &run.entries[*p];
            out.fail(vec![e.seq, shown.seq], format!("{}'s CSR holds the account key used in {}", label(e), label(shown)));
        }
    }
    out
}

pub(super) fn finalize_when_ready(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (i, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::Finalize) {
        let Some(id) = order_id(e) else { continue };
        out.judge();
        if problem_is(e, "orderNotReady") {
            out.fail(vec![e.seq], format!("{} was answered orderNotReady: the order was not ready", label(e)));
            continue;
        }
        // The latest status the client was shown for this order before finalizing.
        let origin = run.origins.get(id).filter(|c| c.len() == 1).map(|c| c[0]);
        let last = run.entries[..i]
            .iter()
            .enumerate()
            .rev()
            .find(|(p, x)| answered_ok(x) && x.resource_status.is_some() && (order_id(x) == Some(id) || Some(*p) == origin));
        let since = last.map(|(p, _)| p).or(origin).unwrap_or(0);
        let status = last.and_then(|(_, x)| x.resource_status.as_deref());
        if status == Some("ready") {
            continue;
        }
        let validated = status.is_none_or(|s| s == "pending")
            && run
                .entries
                .get(since..i)
                .unwrap_or_default()
                .iter()
                .any(|x| matches!(x.endpoint, Endpoint::Authz | Endpoint::Challenge) && status_is(x, "valid"));
        if !validated {
            let (seen, mut seqs) = match last {
                Some((_, x)) => (format!("last seen {} in {}", x.resource_status.as_deref().unwrap_or(""), label(x)), vec![x.seq]),
                None => ("never seen ready".to_owned(), Vec::new()),
            };
            seqs.push(e.seq);
            out.fail(seqs, format!("{} finalized an order {seen}, with no authorization validated since", label(e)));
        }
    }
    out
}

pub(super) fn waits_for_valid(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (i, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::Finalize && status_is(e, "processing")) {
        let Some(id) = order_id(e) else { continue };
        out.trigger(e);
        let known: HashSet<&str> = run.entries[..i].iter().filter(|x| x.endpoint == Endpoint::Certificate).map(bare_path).collect();
        let (mut polled, mut any_valid) = (false, false);
        let mut early = None;
        for q in &run.entries[i + 1..] {
            if q.endpoint == Endpoint::Certificate && !any_valid && !known.contains(bare_path(q)) {
                early = Some(q);
                break;
            }
            let this_order = order_id(q) == Some(id);
            polled |= this_order && q.endpoint == Endpoint::Order;
            if matches!(q.endpoint, Endpoint::Order | Endpoint::Finalize) && status_is(q, "valid") {
                any_valid = true;
                if this_order {
                    break;
                }
            }
        }
        if let Some(q) = early {
            out.fail(vec![e.seq, q.seq], format!("{} fetched a certificate before the order was seen valid ({} answered processing)", label(q), label(e)));
        } else if !polled {
            out.fail(vec![e.seq], format!("after {} answered processing, the client never polled the order", label(e)));
        }
    }
    out
}

pub(super) fn fetches_preferred_chain(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(want) = run.preferred_chain else { return out };
    let mut last = None;
    for (i, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::Certificate && answered_ok(e)) {
        // The default chain is `/certificate/<id>`; alternates add `/<chain>`.
        let Some(id) = bare_path(e).strip_prefix("/certificate/").filter(|id| !id.contains('/')) else { continue };
        out.trigger(e);
        last = Some(e);
        let alternate = format!("/certificate/{id}/{}", want.chain);
        if !run.entries[i + 1..].iter().any(|q| bare_path(q) == alternate && answered_ok(q)) {
            out.fail(
                vec![e.seq],
                format!(
                    "{} answered with the default chain, and the client never fetched the alternate {alternate} (the chain issued by {:?} it was asked to prefer)",
                    label(e),
                    want.issuer
                ),
            );
        }
    }
    if let (Some(e), Some(kept)) = (last, want.kept_issuer.as_deref())
        && kept != want.issuer
    {
        out.fail(vec![e.seq], format!("after {}, the client kept a chain issued by {kept:?}, not the preferred {:?}", label(e), want.issuer));
    }
    out
}

/// draft-ietf-acme-profiles §4: "To select a profile, the client includes the desired
/// profile name in the profile field" of newOrder. A keyword-less statement of how the
/// extension works, judged like a preferred chain: at SHOULD, the operator's wish.
pub(super) fn sends_requested_profile(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(want) = run.profiles.requested.as_deref() else { return out };
    for (e, profile) in run.new_order_profiles() {
        out.trigger(e);
        if profile != Some(want) {
            let sent = profile.map_or_else(|| "no profile".to_owned(), |p| format!("profile {p:?}"));
            out.fail(vec![e.seq], format!("{} named {sent}, although the client was asked for profile {want:?}", label(e)));
        }
    }
    out
}

/// draft-ietf-acme-profiles §4: "The client SHOULD NOT request a profile name that is not
/// advertised in the server's Directory metadata object."
pub(super) fn no_unadvertised_profile(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (e, profile) in run.new_order_profiles() {
        let Some(profile) = profile else { continue };
        out.trigger(e);
        if !run.profiles.advertised.iter().any(|p| p == profile) {
            let advertised = &run.profiles.advertised;
            out.fail(vec![e.seq], format!("{} named profile {profile:?}, which meta.profiles does not advertise (it lists {advertised:?})", label(e)));
        }
    }
    out
}

pub(super) fn renews_when_window_passed(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    let passed = run.entries.iter().enumerate().find(|(_, e)| e.endpoint == Endpoint::RenewalInfo && answered_ok(e) && fault_is(e, FaultKind::RenewalWindowPassed));
    let Some((r, e)) = passed else { return out };
    out.trigger(e);
    // Journal order is enough here: a renewal sent with a nonce fetched earlier is still a renewal.
    if !run.posts().any(|(q, x)| q > r && x.endpoint == Endpoint::NewOrder && answered_ok(x)) {
        out.fail(vec![e.seq], format!("{} suggested a renewal window that had already passed, and the client never placed a new order", label(e)));
    }
    out
}
