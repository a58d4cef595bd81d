//! What makes a status worth writing: not a new request id. Every failed call carries new
//! per-request ids (Graph's request ids, Entra's trace and correlation ids and timestamp);
//! writing them would make a quiet failure loud, and wake the resource again.

use super::KindStatus;

/// Two statuses that differ only in the per-request ids inside condition messages (Graph's
/// request ids, Entra's trace and correlation ids and timestamp): every failed call carries new
/// ones, and writing them would make a quiet failure loud — and wake the resource again.
pub(super) fn same_but_request_ids<S: KindStatus>(a: &S, b: &S) -> bool {
    if a == b {
        return true;
    }
    let (mut a, mut b) = (a.clone(), b.clone());
    for s in [&mut a, &mut b] {
        let generation = s.observed_generation();
        let conditions = s
            .conditions()
            .iter()
            .cloned()
            .map(|mut c| {
                c.message = without_request_ids(&c.message);
                c
            })
            .collect();
        s.set_kstatus(generation, conditions);
    }
    a == b
}

/// `message` without the ids and timestamps that change on every request.
fn without_request_ids(message: &str) -> String {
    // Parenthesised ids the Graph client appends.
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = [" (request-id ", " (client-request-id ", " (trace-id "]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&rest[..i]);
        rest = rest[i..].find(')').map_or("", |j| &rest[i + j + 1..]);
    }
    out.push_str(rest);
    // Entra's "Trace ID: x Correlation ID: y Timestamp: date time" inside a description.
    let mut words: Vec<&str> = vec![];
    let mut skip = 0;
    let tokens: Vec<&str> = out.split(' ').collect();
    for (n, word) in tokens.iter().enumerate() {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let next = tokens.get(n + 1).copied().unwrap_or_default();
        match (*word, next) {
            ("Trace", "ID:") | ("Correlation", "ID:") => skip = 2,
            ("Timestamp:", _) => {
                let time_follows = tokens
                    .get(n + 2)
                    .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit()));
                skip = if time_follows { 2 } else { 1 };
            }
            _ => words.push(word),
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use super::*;
    use crate::reconciler::conditions::{Health, conditions_for};
    use crate::reconciler::{Reason, kind_status};

    #[test]
    fn entra_trace_ids_and_timestamps_are_per_request_too() {
        let a = "token request to http://x failed: HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided. Trace ID: 1a Correlation ID: 2b Timestamp: 2026-12-02 11:50:00Z (trace-id 1a)";
        let b = "token request to http://x failed: HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided. Trace ID: 3c Correlation ID: 4d Timestamp: 2026-12-02 11:51:07Z (trace-id 3c)";
        assert_eq!(without_request_ids(a), without_request_ids(b));
        assert!(without_request_ids(a).contains("AADSTS7000215: Invalid client secret"));
        assert_ne!(
            without_request_ids(a),
            without_request_ids(&a.replace("7000215", "700016"))
        );
    }

    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
    struct TestStatus {
        observed_generation: Option<i64>,
        conditions: Vec<Condition>,
        id: Option<String>,
    }
    kind_status!(TestStatus);

    fn status(message: &str, id: Option<&str>) -> TestStatus {
        let health = Health::progressing(Reason::GraphUnavailable, message);
        let now = Time("2026-01-01T00:00:00Z".parse().unwrap());
        TestStatus {
            observed_generation: Some(1),
            conditions: conditions_for(&health, Some(1), &[], now),
            id: id.map(str::to_string),
        }
    }

    #[test]
    fn a_new_request_id_alone_is_not_worth_a_write() {
        let a = status(
            "Graph get organization returned HTTP 503 X: busy (request-id r1, client-request-id c1); retrying",
            Some("o1"),
        );
        let b = status(
            "Graph get organization returned HTTP 503 X: busy (request-id r2, client-request-id c2); retrying",
            Some("o1"),
        );
        assert!(same_but_request_ids(&a, &b));
        let other_code = status(
            "Graph get organization returned HTTP 500 X: busy (request-id r2); retrying",
            Some("o1"),
        );
        assert!(!same_but_request_ids(&a, &other_code));
        let other_id = status(
            "Graph get organization returned HTTP 503 X: busy (request-id r2, client-request-id c2); retrying",
            Some("o2"),
        );
        assert!(
            !same_but_request_ids(&a, &other_id),
            "an id change is written"
        );
    }
}
