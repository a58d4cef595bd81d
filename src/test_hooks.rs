//! A crash test widens the window between a Graph create and its status write by naming a delay
//! in an environment variable; unset (always, in production) it costs nothing.

use std::time::Duration;

pub(crate) async fn pause(var: &str) {
    let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) else {
        return;
    };
    // Bounded, like every wait: a test hook can't hold a worker for long.
    let ms = ms.min(60_000);
    tracing::warn!(var, ms, "test hook: pausing");
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
