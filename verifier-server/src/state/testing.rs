//! The behaviour every [`VerifierState`] must have, as one async test run against each backend
//! (memory in unit tests, Redis in tests/tests/verifier_service.rs).
#![allow(clippy::unwrap_used, clippy::panic)]

use super::{ReplayCheck, Tag, VerifierState};

fn tag(label: &str) -> Tag {
    use sha2::Digest;
    Tag(sha2::Sha256::digest(label.as_bytes()).into())
}

/// Runs the suite. `restart` empties the backend as a crash without persistence would (Redis:
/// `FLUSHALL`); with it, the replay cache must report itself incomplete afterwards.
pub async fn conformance(s: &dyn VerifierState, restart: Option<&(dyn Fn() + Sync)>) {
    let t0 = 1_800_000_000;
    // A unique namespace per run, so a shared Redis can run the suite twice.
    let run = format!("{}", rand::random::<u64>());
    let t = |l: &str| tag(&format!("{run}/{l}"));
    s.start(t0, 150).await.unwrap();
    s.ping().await.unwrap();

    // Pending requests: found by id and alias until they expire.
    s.put_pending(t("a"), Some(t("kid-a")), b"req-a".to_vec(), t0 + 300, t0)
        .await
        .unwrap();
    assert_eq!(
        s.pending(t("a"), t0).await.unwrap().as_deref(),
        Some(&b"req-a"[..])
    );
    assert_eq!(
        s.pending_by_alias(t("kid-a"), t0).await.unwrap(),
        Some(t("a"))
    );
    assert_eq!(s.pending(t("a"), t0 + 301).await.unwrap(), None, "expired");
    assert_eq!(s.pending(t("nope"), t0).await.unwrap(), None);

    // Single use: the first result wins, a second changes nothing; the pending request is gone.
    assert!(s
        .finish(t("a"), b"res-1".to_vec(), &[t("who-a")], t0 + 1000)
        .await
        .unwrap());
    assert!(!s
        .finish(t("a"), b"res-2".to_vec(), &[], t0 + 5000)
        .await
        .unwrap());
    assert_eq!(
        s.result(t("a"), t0).await.unwrap().as_deref(),
        Some(&b"res-1"[..])
    );
    assert_eq!(s.pending(t("a"), t0).await.unwrap(), None);
    assert_eq!(
        s.result_by_index(t("who-a"), t0).await.unwrap(),
        Some(t("a"))
    );

    // Concurrent answers to one request: exactly one is recorded.
    s.put_pending(t("c"), None, b"req-c".to_vec(), t0 + 300, t0)
        .await
        .unwrap();
    let tc = t("c");
    let attempts = (0..8u8).map(|i| async move { s.finish(tc, vec![i], &[], t0 + 1000).await });
    let won: Vec<bool> = futures_join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "one answer wins");

    // Retention: a sweep deletes exactly the results that are due.
    s.put_pending(t("b"), None, b"req-b".to_vec(), t0 + 300, t0)
        .await
        .unwrap();
    assert!(s
        .finish(t("b"), b"res-b".to_vec(), &[t("who-b")], t0 + 2000)
        .await
        .unwrap());
    let swept = s.sweep(t0 + 1500).await.unwrap();
    assert!(swept >= 2, "a and c are due, swept {swept}");
    assert_eq!(s.result(t("a"), t0).await.unwrap(), None, "a deleted");
    assert_eq!(s.result_by_index(t("who-a"), t0).await.unwrap(), None);
    assert!(s.result(t("b"), t0).await.unwrap().is_some(), "b kept");
    // Deletion on request.
    assert!(s.delete_result(t("b"), &[t("who-b")]).await.unwrap());
    assert!(!s.delete_result(t("b"), &[t("who-b")]).await.unwrap());
    assert_eq!(s.result(t("b"), t0).await.unwrap(), None);
    assert_eq!(s.result_by_index(t("who-b"), t0).await.unwrap(), None);

    // Replay cache: all or nothing, until the entries expire.
    let (k1, k2, k3) = (t("q1"), t("q2"), t("q3"));
    assert_eq!(
        s.check_replay(&[k1, k2], t0 + 150, t0, 150).await.unwrap(),
        ReplayCheck::Fresh
    );
    assert_eq!(
        s.check_replay(&[k1, k2], t0 + 150, t0, 150).await.unwrap(),
        ReplayCheck::Replay
    );
    assert_eq!(
        s.check_replay(&[k3, k2], t0 + 150, t0, 150).await.unwrap(),
        ReplayCheck::Replay
    );
    assert_eq!(
        s.check_replay(&[k3], t0 + 150, t0, 150).await.unwrap(),
        ReplayCheck::Fresh,
        "k3 was not recorded by the refused check"
    );

    // Cache of documents.
    s.cache(t("list"), b"jwt".to_vec(), t0 + 60).await.unwrap();
    assert_eq!(
        s.cached(t("list"), t0).await.unwrap().as_deref(),
        Some(&b"jwt"[..])
    );
    assert_eq!(s.cached(t("list"), t0 + 61).await.unwrap(), None);

    if let Some(restart) = restart {
        restart();
        // Lost entries: the cache must not say "fresh" for what it may have seen.
        let c = s.check_replay(&[k1], t0 + 150, t0 + 10, 150).await.unwrap();
        assert_eq!(c, ReplayCheck::Incomplete { until: t0 + 160 });
        let c = s
            .check_replay(&[t("q9")], t0 + 150, t0 + 20, 150)
            .await
            .unwrap();
        assert_eq!(c, ReplayCheck::Incomplete { until: t0 + 160 });
        let c = s
            .check_replay(&[t("q9")], t0 + 400, t0 + 161, 150)
            .await
            .unwrap();
        assert_eq!(c, ReplayCheck::Fresh, "complete again one window later");
    }
}

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.collect();
    // Poll them together so a backend's round trips interleave.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// A `redis-server` of a test's own on a free loopback port, without persistence (a restart
/// empties it, as a crash of an unpersisted Redis would). Stopped on drop.
pub struct TestRedis {
    /// `redis://127.0.0.1:PORT/0`.
    pub url: String,
    port: u16,
    child: Option<std::process::Child>,
}

impl TestRedis {
    /// Starts one; `None` (with the reason on stderr) when `redis-server` is not installed.
    pub fn start() -> Option<TestRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let mut r = TestRedis {
            url: format!("redis://127.0.0.1:{port}/0"),
            port,
            child: None,
        };
        if let Err(e) = r.spawn() {
            eprintln!("SKIPPED (Redis): redis-server cannot be started ({e}); ./dev test installs Debian's redis-server");
            return None;
        }
        Some(r)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err("it did not start listening".into())
    }

    /// Stops it (SIGKILL: no chance to save).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops it and starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("redis-server did not restart: {e}");
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
