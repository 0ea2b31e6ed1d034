//! The verifier service under load (bench/run-verifier-load.sh, README "Performance"): the
//! landlord's rental query (3 credentials, `direct_post.jwt`) answered by a real wallet, posted
//! by `wrk` to `kluis-verifier serve` processes on loopback.
//!
//! For each configuration: N requests are created through the service's API, the wallet (the
//! real core, credentials collected from the fixture holders) fetches each request object and
//! builds its response (KB-JWTs over that request's nonce, encrypted to that request's key),
//! nothing is timed yet; then `wrk` posts every body once (bench/verifier-load.lua), and every
//! result is read back through the API: only results the service reports `verified` count.
//! Configurations: one instance with memory state, one with Redis, two sharing one Redis (wrk's
//! threads spread over both, each answer posted to the instance that did not create its
//! request). Each instance is pinned to one core (`taskset`), so two instances on the two cores
//! can be compared with one; each instance answers one warm-up response first (it fetches the
//! scheme's list and the status lists a running service has cached). The Redis set is also
//! verified in process with the library (the call the service makes, status lists warm), on one
//! thread and on both cores. CPU per verified response is read from /proc (service) and
//! `INFO cpu` (Redis): on a shared machine it says more than the rate does.
//!
//! usage: verifier_load --bin PATH --lua PATH [--n N] [--threads T] [--connections C]
//!        [--configs memory,redis,two] [--out FILE]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kluis_core::openid4vp::session::PresentationRequest;
use kluis_core::openid4vp::verifier::{
    parse_form, verify_response_with, PendingRequest, ResponseOutcome,
};
use kluis_core::status::StatusLists;
use kluis_core::Wallet;
use kluis_fixtures::servers::{HolderOptions, Network, BANK, LANDLORD};
use kluis_tests::service::{free_port, write_landlord_config, Instance};
use kluis_verifier_server::state::testing::TestRedis;
use kluis_verifier_server::{open_state, Config, Verifier};
use serde_json::{json, Value};

const CITIZEN: &str = "daan";

struct Args {
    bin: PathBuf,
    lua: PathBuf,
    n: usize,
    threads: usize,
    connections: usize,
    configs: Vec<String>,
    out: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        bin: PathBuf::new(),
        lua: PathBuf::new(),
        n: 3000,
        threads: 2,
        connections: 16,
        configs: vec!["memory".into(), "redis".into(), "two".into()],
        out: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!(
            "usage: verifier_load --bin PATH --lua PATH [--n N] [--threads T] [--connections C] [--configs memory,redis,two] [--out FILE]"
        );
        std::process::exit(2)
    };
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let Some(v) = it.next() else { usage() };
        let num = |v: &str| v.parse::<usize>().unwrap_or_else(|_| usage());
        match k.as_str() {
            "--bin" => a.bin = v.into(),
            "--lua" => a.lua = v.into(),
            "--n" => a.n = num(v),
            "--threads" => a.threads = num(v).max(1),
            "--connections" => a.connections = num(v),
            "--configs" => a.configs = v.split(',').map(str::to_string).collect(),
            "--out" => a.out = Some(v.into()),
            _ => usage(),
        }
    }
    if !a.bin.exists() || !a.lua.exists() || a.n == 0 {
        usage()
    }
    a.connections = a.connections.max(a.threads);
    a
}

fn http_policy() -> kluis_core::issuance::HttpPolicy {
    kluis_tests::loopback_http(Duration::from_secs(10), 0)
}

/// CPU seconds (user + system) process `pid` used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds the Redis server used so far (`INFO cpu`).
fn redis_cpu_secs(url: &str) -> f64 {
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .unwrap_or("6379");
    let out = Command::new("redis-cli")
        .args(["-p", port, "INFO", "cpu"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .filter(|(k, _)| *k == "used_cpu_sys" || *k == "used_cpu_user")
        .map(|(_, v)| v.parse::<f64>().unwrap_or(0.0))
        .sum()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One prepared answer: the request's state, the instance that made it, the form body.
struct Prepared {
    state: String,
    made_on: usize,
    body: String,
}

fn form_body(form: &[(String, String)]) -> String {
    // application/x-www-form-urlencoded, as the wallet's HTTP client sends it.
    let mut u = reqwest::Url::parse("http://form.invalid/").unwrap();
    u.query_pairs_mut()
        .extend_pairs(form.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    u.query().unwrap_or_default().to_string()
}

/// N requests made through the API (round robin over `bases`), each answered by the wallet's
/// own code (fetch, check and match the request object; build the encrypted response), not sent.
/// All requests are fetched first and the responses built after, on both cores: the key-binding
/// JWTs are then young when the run starts (a verifier takes them for 5 minutes).
async fn prepare(wallet: &Arc<Wallet>, bases: &[String], n: usize) -> Vec<Prepared> {
    let http = reqwest::Client::new();
    let mut started: Vec<Option<(String, usize, PresentationRequest)>> =
        (0..n).map(|_| None).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0usize;
    let mut done = 0usize;
    let t0 = Instant::now();
    let mut spent = [Duration::ZERO; 2];
    while done < n {
        while next < n && tasks.len() < 4 {
            let (i, base, made_on) = (next, bases[next % bases.len()].clone(), next % bases.len());
            let (wallet, http) = (Arc::clone(wallet), http.clone());
            tasks.spawn(async move {
                let t0 = Instant::now();
                let r = http
                    .post(format!("{base}/v1/requests"))
                    .json(&json!({ "query": "rental" }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "creating a request");
                let created: Value = r.json().await.unwrap();
                let t1 = Instant::now();
                let req = wallet
                    .start_presentation_with(created["link"].as_str().unwrap(), "en", http_policy())
                    .await
                    .unwrap();
                let state = created["state"].as_str().unwrap().to_string();
                (i, (state, made_on, req), [t1 - t0, t1.elapsed()])
            });
            next += 1;
        }
        let (i, s, took) = tasks.join_next().await.unwrap().unwrap();
        started[i] = Some(s);
        for (s, t) in spent.iter_mut().zip(took) {
            *s += t;
        }
        done += 1;
    }
    let fetched = t0.elapsed();
    let t1 = Instant::now();
    let started: Vec<_> = started.into_iter().map(Option::unwrap).collect();
    let chunk = n.div_ceil(2);
    let out: Vec<Prepared> = std::thread::scope(|s| {
        let handles: Vec<_> = started
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(state, made_on, req)| {
                            let built = wallet
                                .build_presentation_response(req, &req.default_choice())
                                .unwrap();
                            assert_eq!(built.disclosed.len(), 3, "three credentials answer");
                            Prepared {
                                state: state.clone(),
                                made_on: *made_on,
                                body: form_body(&built.form),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
    eprintln!(
        "  prepared {n} answers: requests made and fetched by the wallet in {:.1} s (4 at a time; each: made {:.1} ms, fetched, checked and matched {:.1} ms), responses built in {:.1} s (2 threads)",
        fetched.as_secs_f64(),
        ms(spent[0]),
        ms(spent[1]),
        t1.elapsed().as_secs_f64()
    );
    out
}

/// What one wrk run measured.
struct Run {
    ok: u64,
    bad: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: Value,
    load_before: String,
    load_after: String,
    /// CPU seconds of the service instances, Redis and wrk during the run.
    cpu: [f64; 3],
}

/// Posts every prepared body once with wrk: body i goes to thread i mod T, thread t to port
/// t mod (ports); each answer to an instance other than the one that made it when there are two.
fn run_wrk(
    a: &Args,
    dir: &Path,
    prepared: &[Prepared],
    ports: &[u16],
    instances: &[Instance],
    redis_url: Option<&str>,
) -> Run {
    let mut files: Vec<std::io::BufWriter<std::fs::File>> = (0..a.threads)
        .map(|t| {
            std::io::BufWriter::new(std::fs::File::create(dir.join(format!("bodies.{t}"))).unwrap())
        })
        .collect();
    // Thread t serves port t % k; deal the answers so each lands on another instance than the
    // one that made its request (with one instance: that one).
    let k = ports.len();
    let mut per_port: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, p) in prepared.iter().enumerate() {
        per_port[(p.made_on + 1) % k].push(i);
    }
    for (port, items) in per_port.iter().enumerate() {
        let threads: Vec<usize> = (0..a.threads).filter(|t| t % k == port).collect();
        assert!(!threads.is_empty(), "fewer wrk threads than instances");
        for (j, i) in items.iter().enumerate() {
            writeln!(files[threads[j % threads.len()]], "{}", prepared[*i].body).unwrap();
        }
    }
    for f in &mut files {
        f.flush().unwrap();
    }
    drop(files);
    let ports_text: Vec<String> = ports.iter().map(u16::to_string).collect();
    let load_before = loadavg();
    let service_cpu = || instances.iter().map(|i| cpu_secs(i.pid())).sum::<f64>();
    let redis_cpu = || redis_url.map_or(0.0, redis_cpu_secs);
    let cpu_before = [service_cpu(), redis_cpu()];
    let mut cpu = [0.0; 3];
    let mut child = Command::new("wrk")
        .args(["-t", &a.threads.to_string()])
        .args(["-c", &a.connections.to_string()])
        .args(["-d", "600s", "--timeout", "30s", "-s"])
        .arg(&a.lua)
        .arg(format!("http://127.0.0.1:{}/response", ports[0]))
        .env("KLUIS_LOAD_BODIES", dir.join("bodies"))
        .env("KLUIS_LOAD_PORTS", ports_text.join(","))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("wrk.err")).unwrap())
        .spawn()
        .expect("wrk (Debian's wrk) is not installed");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // wrk runs for -d whatever the script does: once every thread has its answers, stop it
    // (SIGINT: it prints its summary and calls done()).
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut finished = 0;
    let mut summary: Option<Value> = None;
    let mut interrupted = false;
    let mut load_after = String::new();
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(line) => {
                if line.starts_with("kluis-load: thread") {
                    finished += 1;
                } else if let Some(j) = line.strip_prefix("kluis-load: ") {
                    summary = Some(serde_json::from_str(j).unwrap());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("  wrk did not finish within 300 s: stopping it");
                finished = a.threads;
            }
        }
        if finished >= a.threads && !interrupted {
            load_after = loadavg();
            cpu = [
                service_cpu() - cpu_before[0],
                redis_cpu() - cpu_before[1],
                cpu_secs(child.id()),
            ];
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            interrupted = true;
        }
    }
    let _ = child.wait();
    let _ = reader.join();
    let s = summary.unwrap_or_else(|| {
        panic!(
            "wrk printed no summary: {}",
            std::fs::read_to_string(dir.join("wrk.err")).unwrap_or_default()
        )
    });
    let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
    Run {
        ok: s["ok"].as_u64().unwrap_or(0),
        bad: s["bad"].as_u64().unwrap_or(0),
        seconds: (f("last_us") - f("first_us")) / 1e6,
        p50_ms: f("p50_us") / 1e3,
        p99_ms: f("p99_us") / 1e3,
        max_ms: f("max_us") / 1e3,
        errors: s["errors"].clone(),
        load_before,
        load_after,
        cpu,
    }
}

/// Reads every result back (from the instance that made the request) and counts those the
/// service reports verified with the rental claims.
async fn count_verified(bases: &[String], prepared: &[Prepared]) -> usize {
    let http = reqwest::Client::new();
    let mut verified = 0;
    for p in prepared {
        let r = http
            .get(format!("{}/v1/requests/{}", bases[p.made_on], p.state))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if v["status"] == "verified"
            && v["claims"]["person"][0]["claims"]["given_name"] == "Daan"
            && v["claims"]["income"][0]["claims"]["monthly_gross_income_eur"].is_number()
            && v["claims"]["arrears"][0]["claims"]["registered_payment_arrears"] == false
        {
            verified += 1;
        }
    }
    verified
}

/// The same answers verified in process: the library call the service makes
/// (`verify_response_with` inside `delegation::with_status_at`, status lists cached), over
/// `threads` threads. Returns (verified, seconds).
fn verify_in_process(
    prepared: &[Prepared],
    pending: &[PendingRequest],
    trust: &kluis_core::openid4vp::verifier::VerifierTrust,
    lists: &StatusLists,
    threads: usize,
) -> (usize, f64) {
    let chunk = prepared.len().div_ceil(threads);
    let started = Instant::now();
    let verified: usize = std::thread::scope(|s| {
        let handles: Vec<_> = prepared
            .chunks(chunk)
            .zip(pending.chunks(chunk))
            .map(|(bodies, pending)| {
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let mut ok = 0;
                    for (p, pending) in bodies.iter().zip(pending) {
                        let form = parse_form(&p.body).unwrap();
                        let now = kluis_core::now_unix();
                        let outcome = rt.block_on(kluis_core::delegation::with_status_at(
                            lists,
                            None,
                            http_policy(),
                            now,
                            |ctx| verify_response_with(&form, pending, trust, now, ctx),
                        ));
                        if matches!(outcome, Ok(ResponseOutcome::Verified { .. })) {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (verified, started.elapsed().as_secs_f64())
}

struct Row {
    what: String,
    verified: usize,
    n: usize,
    rate: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// CPU per verified response (service and Redis; in process: this process).
    cpu_ms: Option<f64>,
    /// The same, the service instances alone.
    service_cpu_ms: Option<f64>,
    /// Cores' worth of CPU the service (in process: this process) got during the run.
    busy: Option<f64>,
    load: String,
}

fn print_row(r: &Row) {
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1} ms"));
    println!(
        "| {} | {}/{} | {:.0}/s | {} | {} | {} | {} | {} |",
        r.what,
        r.verified,
        r.n,
        r.rate,
        ms(r.p50_ms),
        ms(r.p99_ms),
        r.cpu_ms.map_or("–".to_string(), |v| format!("{v:.2} ms")),
        r.busy.map_or("–".to_string(), |v| format!("{v:.2}")),
        r.load
    );
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let (net, _wallet_dir, wallet, redis) = rt.block_on(async {
        let net = Network::start(None, |_| HolderOptions::default())
            .await
            .unwrap();
        // Listed before the wallet first reads the scheme's list.
        let bank = net.verifier(BANK).unwrap().origin();
        net.scheme
            .list_verifiers(&[
                (LANDLORD.into(), format!("http://127.0.0.1:{pa}")),
                (LANDLORD.into(), format!("http://127.0.0.1:{pb}")),
                (BANK.into(), bank),
            ])
            .unwrap();
        let (wdir, wallet) = kluis_tests::collected_wallet(&net, CITIZEN, http_policy()).await;
        (net, wdir, Arc::new(wallet), TestRedis::start())
    });
    let Some(redis) = redis else {
        eprintln!("redis-server is needed (bench/run-verifier-load.sh installs it)");
        std::process::exit(1);
    };
    // The longest request lifetime the service allows: preparing N answers takes a while.
    let top = "request_lifetime_secs = 600\nsweep_interval_secs = 3600";
    let memory_config = write_landlord_config(dir.path(), &net, "memory", None, top, 10_000);
    let redis_config =
        write_landlord_config(dir.path(), &net, "redis", Some(&redis.url), top, 10_000);
    eprintln!(
        "verifier load: N = {} answers per configuration, wrk -t {} -c {}, load average {}",
        a.n,
        a.threads,
        a.connections,
        loadavg()
    );
    let mut rows: Vec<Row> = Vec::new();
    for config in a.configs.clone() {
        let (path, ports, label) = match config.as_str() {
            "memory" => (&memory_config, vec![pa], "1 instance, memory state"),
            "redis" => (&redis_config, vec![pa], "1 instance, Redis state"),
            "two" => (&redis_config, vec![pa, pb], "2 instances, one Redis"),
            other => {
                eprintln!("unknown configuration {other}");
                std::process::exit(2);
            }
        };
        eprintln!("{label}:");
        let instances: Vec<Instance> = ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                Instance::start(
                    &a.bin,
                    path,
                    *port,
                    &format!("http://127.0.0.1:{port}"),
                    &dir.path().join(format!("{config}-{i}.log")),
                    Some(i % 2),
                )
            })
            .collect();
        let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
        let mut prepared = rt.block_on(prepare(&wallet, &bases, a.n + bases.len()));
        // One answer per instance before the timed run, as a running service has had: it
        // fetched the scheme's list and the credentials' status lists (then cached).
        let warm_up = prepared.split_off(a.n);
        rt.block_on(async {
            let http = reqwest::Client::new();
            for (base, p) in bases.iter().zip(&warm_up) {
                let r = http
                    .post(format!("{base}/response"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(p.body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    r.status(),
                    200,
                    "warm-up answer: {}",
                    r.text().await.unwrap_or_default()
                );
            }
        });
        // The Redis set is verified in process too: its pending requests, read from the shared
        // state before the run answers them.
        let in_process = (config == "redis").then(|| {
            rt.block_on(async {
                let c = Config::load(path).unwrap();
                let settings = c.settings(Some(&bases[0])).unwrap();
                let state = open_state(&c.backend().unwrap()).await.unwrap();
                let v = Verifier::new(settings, state).unwrap();
                let mut pending = Vec::with_capacity(prepared.len());
                for p in &prepared {
                    pending.push(v.pending_request(&p.state).await.unwrap().unwrap());
                }
                (v.trust().await.unwrap(), pending)
            })
        });
        let redis_url = (config != "memory").then_some(redis.url.as_str());
        let run = run_wrk(&a, dir.path(), &prepared, &ports, &instances, redis_url);
        let verified = rt.block_on(count_verified(&bases, &prepared));
        eprintln!(
            "  wrk: {} answered 200, {} refused, errors {}; the service reports {verified} verified; {:.2} s; load {} -> {}",
            run.ok, run.bad, run.errors, run.seconds, run.load_before, run.load_after
        );
        let per = |cpu: f64| cpu * 1e3 / (verified.max(1) as f64);
        eprintln!(
            "  CPU per verified response: service {:.2} ms, Redis {:.2} ms, wrk {:.2} ms",
            per(run.cpu[0]),
            per(run.cpu[1]),
            per(run.cpu[2])
        );
        if verified != a.n || run.bad > 0 {
            for (i, _) in instances.iter().enumerate() {
                let log = dir.path().join(format!("{config}-{i}.log"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                eprintln!(
                    "  {}: {}",
                    log.display(),
                    text.lines().take(5).collect::<Vec<_>>().join("\n    ")
                );
            }
        }
        rows.push(Row {
            what: format!("HTTP: {label}"),
            verified,
            n: a.n,
            rate: (verified.min(run.ok as usize)) as f64 / run.seconds.max(1e-9),
            p50_ms: Some(run.p50_ms),
            p99_ms: Some(run.p99_ms),
            cpu_ms: Some(per(run.cpu[0] + run.cpu[1])),
            service_cpu_ms: Some(per(run.cpu[0])),
            busy: Some(run.cpu[0] / run.seconds.max(1e-9)),
            load: format!("{} → {}", run.load_before, run.load_after),
        });
        eprintln!("  max latency {:.1} ms", run.max_ms);
        drop(instances);
        if let Some((trust, pending)) = in_process {
            let lists = StatusLists::new();
            // Warm the status-list cache as a running service has it.
            let _ = verify_in_process(&prepared[..1], &pending[..1], &trust, &lists, 1);
            for threads in [1, 2] {
                let load_before = loadavg();
                let cpu_before = cpu_secs(std::process::id());
                let (ok, secs) = verify_in_process(&prepared, &pending, &trust, &lists, threads);
                let cpu = cpu_secs(std::process::id()) - cpu_before;
                rows.push(Row {
                    what: format!(
                        "in process, the same answers, {threads} thread{}",
                        if threads == 1 { "" } else { "s" }
                    ),
                    verified: ok,
                    n: a.n,
                    rate: ok as f64 / secs,
                    p50_ms: None,
                    p99_ms: None,
                    cpu_ms: Some(cpu * 1e3 / ok.max(1) as f64),
                    service_cpu_ms: None,
                    busy: Some(cpu / secs.max(1e-9)),
                    load: format!("{load_before} → {}", loadavg()),
                });
            }
        }
    }
    println!("| configuration | verified / posted | verified/s | p50 | p99 | CPU per response | cores busy | load average (1, 5, 15 min) before → after |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        print_row(r);
    }
    let rate = |prefix: &str| {
        rows.iter()
            .find(|r| r.what.starts_with(prefix))
            .map(|r| r.rate)
    };
    let mut goals = BTreeMap::new();
    if let (Some(m), Some(r)) = (
        rate("HTTP: 1 instance, memory"),
        rate("HTTP: 1 instance, Redis"),
    ) {
        let cost = 100.0 * (1.0 - r / m);
        goals.insert(
            "redis_cost",
            format!(
                "Redis state costs {cost:.1}% of one instance's throughput (goal ≤ 15%: {})",
                if cost <= 15.0 { "met" } else { "missed" }
            ),
        );
    }
    if let (Some(one), Some(two)) = (rate("HTTP: 1 instance, Redis"), rate("HTTP: 2 instances")) {
        let x = two / one;
        goals.insert(
            "scale_out",
            format!(
                "two instances reach {x:.2}× one (both on Redis; goal ≥ 1.7×: {})",
                if x >= 1.7 { "met" } else { "missed" }
            ),
        );
    }
    let row = |prefix: &str| rows.iter().find(|r| r.what.starts_with(prefix));
    let memory = row("HTTP: 1 instance, memory").and_then(|r| r.service_cpu_ms);
    let redis_row = row("HTTP: 1 instance, Redis");
    if let (Some(ms), Some(rs), Some(total)) = (
        memory,
        redis_row.and_then(|r| r.service_cpu_ms),
        redis_row.and_then(|r| r.cpu_ms),
    ) {
        // The instance's core is the bottleneck (Redis runs on the other one), so its
        // throughput goes as 1 / its CPU per response: less noisy than rates on a shared machine.
        goals.insert(
            "redis_cost_cpu",
            format!(
                "by CPU per response: the instance {ms:.2} ms with memory state, {rs:.2} ms with Redis (+{:.2} ms in Redis itself): {:.1}% less throughput per core",
                total - rs,
                100.0 * (1.0 - ms / rs)
            ),
        );
    }
    for g in goals.values() {
        println!("{g}");
    }
    if let Some(out) = &a.out {
        let table: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"configuration": r.what, "verified": r.verified, "posted": r.n,
                       "per_second": r.rate, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                       "cpu_ms": r.cpu_ms, "busy_cores": r.busy, "load": r.load})
            })
            .collect();
        std::fs::write(
            out,
            serde_json::to_string_pretty(&json!({"rows": table, "goals": goals})).unwrap(),
        )
        .unwrap();
    }
    drop(redis);
}
