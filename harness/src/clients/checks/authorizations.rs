//! Checks of RFC 8555 §7.5, authorizations and challenges: the challenge response,
//! polling the authorization (with its Retry-After), and leaving valid ones alone.

use super::*;

pub(super) fn challenge_response_empty_object(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (_, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::Challenge) {
        match body(e) {
            Body::Json(v) => {
                out.judge();
                if !is_empty_object(v) {
                    out.fail(vec![e.seq], format!("{} answered the challenge with {} instead of {{}}", label(e), brief(v)));
                }
            }
            Body::NotJson => {
                out.judge();
                out.fail(vec![e.seq], format!("{} answered the challenge with a payload that is not JSON", label(e)));
            }
            Body::Empty | Body::Unknown => {}
        }
    }
    out
}

pub(super) fn polls_authorization(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (t, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::Challenge) {
        let Body::Json(_) = body(e) else { continue };
        let Some(status) = e.resource_status.as_deref().filter(|s| answered_ok(e) && matches!(*s, "pending" | "processing")) else {
            continue;
        };
        out.trigger(e);
        let mut polled = false;
        let mut repost = None;
        for q in &run.entries[t + 1..] {
            let post_as_get = is_post(q) && matches!(body(q), Body::Empty);
            if post_as_get && matches!(q.endpoint, Endpoint::Authz | Endpoint::Challenge | Endpoint::Order) {
                polled = true;
            }
            if q.path == e.path && is_post(q) && matches!(body(q), Body::Json(_)) {
                repost = Some(q);
                break;
            }
            let settled = answered_ok(q)
                && match q.endpoint {
                    Endpoint::Authz => q.resource_status.as_deref().is_some_and(|s| s != "pending"),
                    Endpoint::Challenge => q.path == e.path && q.resource_status.as_deref().is_some_and(|s| matches!(s, "valid" | "invalid")),
                    _ => false,
                };
            if settled {
                break;
            }
        }
        if let Some(q) = repost {
            out.fail(vec![e.seq, q.seq], format!("{} answered the challenge again while it was {status} (per {}) instead of polling", label(q), label(e)));
        } else if !polled {
            out.fail(vec![e.seq], format!("after {} answered {status}, the client never fetched the authorization, challenge or order", label(e)));
        }
    }
    out
}

pub(super) fn polling_respects_retry_after(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (r, e) in run.entries.iter().enumerate() {
        let Some(secs) = e.retry_after else { continue };
        let polled = match e.endpoint {
            Endpoint::Authz => status_is(e, "pending"),
            Endpoint::Order | Endpoint::Finalize => status_is(e, "processing"),
            Endpoint::Challenge => status_is(e, "pending") || status_is(e, "processing"),
            _ => false,
        };
        if !polled {
            continue;
        }
        out.trigger(e);
        let wait = min_wait(secs);
        let key = resource_key(e);
        for (q, x) in run.entries.iter().enumerate().skip(r + 1) {
            if gap(x, e) > wait.saturating_add(Duration::from_secs(1)) {
                break;
            }
            // A challenge answered or an order finalized since changes what a poll is for.
            if is_post(x) && matches!(body(x), Body::Json(_)) && matches!(x.endpoint, Endpoint::Challenge | Endpoint::Finalize | Endpoint::Authz) {
                break;
            }
            if resource_key(x) != key || !run.sent_after(q, r) {
                continue;
            }
            if gap(x, e) < wait {
                out.fail(
                    vec![e.seq, x.seq],
                    format!("{} came {:.2}s after {} said Retry-After: {secs}", label(x), gap(x, e).as_secs_f64(), label(e)),
                );
            }
            break;
        }
    }
    out
}

impl Run<'_> {
    /// Whether, when the request at `q` was sent, some order other than the one created
    /// at `except` may still have needed a challenge answered: it was created pending and
    /// not seen ready (or later) before `q`.
    fn other_order_pending(&self, except: usize, q: usize) -> bool {
        self.posts().take_while(|(p, _)| *p < q).any(|(p, e)| {
            let pending = p != except && e.endpoint == Endpoint::NewOrder && e.status == 201 && status_is(e, "pending");
            pending
                && !self.entries[p + 1..q].iter().any(|x| {
                    matches!(x.resource_status.as_deref(), Some("ready" | "processing" | "valid"))
                        && answered_ok(x)
                        && order_id(x).and_then(|id| self.origins.get(id)).is_some_and(|c| c.as_slice() == [p])
                })
        })
    }
}

pub(super) fn no_challenge_for_valid_authorization(run: &Run<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (t, e) in run.posts().filter(|(_, e)| e.endpoint == Endpoint::NewOrder && e.status == 201 && status_is(e, "ready")) {
        out.trigger(e);
        let finalized = run.posts().find(|(q, x)| {
            *q > t && x.endpoint == Endpoint::Finalize && order_id(x).and_then(|id| run.origins.get(id)).is_some_and(|c| c.contains(&t))
        });
        let until = finalized.map_or(run.entries.len(), |(q, _)| q);
        let answered = run.posts().find(|(q, x)| {
            (t + 1..until).contains(q)
                && x.endpoint == Endpoint::Challenge
                && matches!(body(x), Body::Json(_) | Body::NotJson)
                && !run.other_order_pending(t, *q)
        });
        if let Some((_, x)) = answered {
            out.fail(
                vec![e.seq, x.seq],
                format!("{} answered a challenge although {} returned the order ready: its authorizations were already valid", label(x), label(e)),
            );
        } else if finalized.is_none() {
            out.fail(vec![e.seq], format!("{} returned the order ready, and the client never finalized it", label(e)));
        }
    }
    out
}
