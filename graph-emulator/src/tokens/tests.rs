//! Tests of the token endpoint's parsing.

use super::*;

#[test]
fn scope_must_be_a_single_https_default() {
    assert_eq!(
        scope_resource("https://graph.microsoft.com/.default").as_deref(),
        Some("https://graph.microsoft.com")
    );
    assert_eq!(
        scope_resource("https://graph.microsoft.com/.default offline_access").as_deref(),
        Some("https://graph.microsoft.com")
    );
    assert!(scope_resource("User.Read").is_none());
    assert!(scope_resource("http://graph.microsoft.com/.default").is_none());
    assert!(scope_resource("https://a/.default https://b/.default").is_none());
}
