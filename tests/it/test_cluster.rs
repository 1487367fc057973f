//! Real Redis servers a test starts itself: a three-master Redis Cluster
//! (`redis-server --cluster-enabled yes` ×3 on free ports in a temp dir,
//! joined by `redis-cli --cluster create`) and a TLS Redis (`--tls-port`).
//!
//! Needs `redis-server` and `redis-cli` on the PATH (`.ci/run` installs
//! them). Without them a test skips, except under `CI=true`, where it fails.
//! Every server is a child process killed when its handle drops.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// True when `redis-server` and `redis-cli` can run; under `CI=true`
/// panics otherwise, elsewhere the caller skips.
pub fn redis_binaries_or_skip(test: &str) -> bool {
    let ok = ["redis-server", "redis-cli"].iter().all(|bin| {
        Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: redis-server / redis-cli not found and CI=true (apt-get install redis-server redis-tools)"
        );
        eprintln!("{test}: skipped, no redis-server / redis-cli on the PATH");
    }
    ok
}

/// A port free right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("bff-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` child process.
pub struct Server {
    child: Option<Child>,
    args: Vec<String>,
    /// The client port.
    pub port: u16,
}

impl Server {
    fn spawn(args: Vec<String>, port: u16) -> Server {
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        Server {
            child: Some(child),
            args,
            port,
        }
    }

    /// Kills the process (a crash: no shutdown, no save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same server again (same port, same directory: a cluster
    /// node comes back with its `nodes.conf`).
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts again");
        self.child = Some(child);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `redis-cli` with `args`; its stdout.
pub fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ping(port: u16) -> bool {
    redis_cli(&["-p", &port.to_string(), "ping"]).trim() == "PONG"
}

/// Polls `check` up to `attempts` times, 100 ms apart.
pub fn wait_until(what: &str, attempts: usize, mut check: impl FnMut() -> bool) {
    for _ in 0..attempts {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not after {attempts} attempts");
}

/// Waits until every node of `ports` reports `cluster_state:ok` (blocks
/// the thread: call it from `spawn_blocking` while a gateway runs).
pub fn wait_cluster_ok(ports: &[u16]) {
    for port in ports {
        let port = port.to_string();
        wait_until("cluster_state:ok", 300, || {
            redis_cli(&["-p", &port, "cluster", "info"]).contains("cluster_state:ok")
        });
    }
}

/// A three-master Redis Cluster on 127.0.0.1.
pub struct Cluster {
    pub nodes: Vec<Server>,
    _dir: TempDir,
}

impl Cluster {
    /// Starts three nodes and joins them into a cluster, or `None` (skip)
    /// when the binaries are missing outside CI.
    pub fn start_or_skip(test: &str) -> Option<Cluster> {
        if !redis_binaries_or_skip(test) {
            return None;
        }
        let dir = TempDir::new("cluster");
        let mut nodes = Vec::new();
        for i in 0..3 {
            let node_dir = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let (port, bus) = (free_port(), free_port());
            let args = vec![
                "--port".to_string(),
                port.to_string(),
                "--bind".to_string(),
                "127.0.0.1".to_string(),
                "--cluster-enabled".to_string(),
                "yes".to_string(),
                "--cluster-port".to_string(),
                bus.to_string(),
                "--cluster-config-file".to_string(),
                "nodes.conf".to_string(),
                // A dead node is noticed in about a second.
                "--cluster-node-timeout".to_string(),
                "1000".to_string(),
                "--dir".to_string(),
                node_dir.display().to_string(),
                "--save".to_string(),
                String::new(),
                "--appendonly".to_string(),
                "no".to_string(),
            ];
            nodes.push(Server::spawn(args, port));
        }
        for node in &nodes {
            let port = node.port;
            wait_until("cluster node answers", 100, || ping(port));
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.push("--cluster-yes");
        redis_cli(&args);
        let cluster = Cluster { nodes, _dir: dir };
        cluster.wait_ok();
        Some(cluster)
    }

    /// `BFF_REDIS_URL` for this cluster: every node, comma-separated.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every node reports `cluster_state:ok` (blocks the thread).
    pub fn wait_ok(&self) {
        wait_cluster_ok(&self.ports());
    }

    /// The nodes' client ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The index of the node that owns `key`'s slot (from `CLUSTER NODES`:
    /// `id host:port@bus flags master ... slot ranges`).
    pub fn owner_of(&self, key: &str) -> usize {
        let port = self.nodes[0].port.to_string();
        let slot: u16 = redis_cli(&["-p", &port, "cluster", "keyslot", key])
            .trim()
            .parse()
            .expect("a slot");
        let table = redis_cli(&["-p", &port, "cluster", "nodes"]);
        for line in table.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(addr) = fields.get(1) else { continue };
            let owns = fields.iter().skip(8).any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                match (lo.parse::<u16>(), hi.parse::<u16>()) {
                    (Ok(lo), Ok(hi)) => (lo..=hi).contains(&slot),
                    _ => false,
                }
            });
            if owns {
                let node_port = addr
                    .split('@')
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok());
                if let Some(i) = self.nodes.iter().position(|n| Some(n.port) == node_port) {
                    return i;
                }
            }
        }
        panic!("no node owns slot {slot}:\n{table}");
    }

    /// Whether `key` exists (asked through the node that owns it).
    pub fn exists(&self, key: &str) -> bool {
        let port = self.nodes[self.owner_of(key)].port.to_string();
        redis_cli(&["-p", &port, "exists", key]).trim() == "1"
    }
}

/// A Redis speaking only TLS (`--port 0 --tls-port P`), with a test CA and
/// a server certificate for `localhost` and `127.0.0.1` made with rcgen.
/// Clients are not asked for certificates (`--tls-auth-clients no`; Debian
/// 12's redis-server 7.0 then refuses a `--tls-ca-file` on the command line,
/// and needs none).
pub struct TlsRedis {
    pub server: Server,
    /// The PEM file of the CA that signed the server's certificate.
    pub ca_file: PathBuf,
    /// The PEM file of another CA (trusting it must not be enough).
    pub other_ca_file: PathBuf,
    _dir: TempDir,
}

fn test_ca(name: &str) -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().expect("CA key");
    let ca = rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate");
    let pem = ca.pem();
    (ca, pem)
}

impl TlsRedis {
    /// Starts it, or `None` (skip) when the binaries are missing outside CI.
    pub fn start_or_skip(test: &str) -> Option<TlsRedis> {
        if !redis_binaries_or_skip(test) {
            return None;
        }
        let dir = TempDir::new("redis-tls");
        let (ca, ca_pem) = test_ca("bff test CA");
        let (_, other_pem) = test_ca("some other CA");
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("ca.pem"), &ca_pem).expect("write");
        std::fs::write(path("other-ca.pem"), &other_pem).expect("write");
        std::fs::write(path("server.pem"), cert.pem()).expect("write");
        std::fs::write(path("server.key"), key.serialize_pem()).expect("write");
        let port = free_port();
        let args: Vec<String> = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &path("server.pem").display().to_string(),
            "--tls-key-file",
            &path("server.key").display().to_string(),
            "--tls-auth-clients",
            "no",
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir.path().display().to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let server = Server::spawn(args, port);
        wait_until("TLS Redis listens", 100, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(TlsRedis {
            server,
            ca_file: path("ca.pem"),
            other_ca_file: path("other-ca.pem"),
            _dir: dir,
        })
    }

    /// `rediss://<host>:<port>`.
    pub fn url(&self, host: &str) -> String {
        format!("rediss://{host}:{}", self.server.port)
    }
}

/// A `bff` process (the demo runner) started by a test; killed on drop.
pub struct BffProcess {
    child: Child,
    /// The web client's port.
    pub web: u16,
}

impl BffProcess {
    /// Starts `bff` with `args` and `env` (other `BFF_*` variables of the
    /// test process removed), demo services on ephemeral ports, and waits
    /// until the web client answers `/healthz`.
    pub async fn start(args: &[&str], env: &[(&str, String)]) -> BffProcess {
        let (web, mobile, admin) = (free_port(), free_port(), free_port());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bff"));
        for (k, _) in std::env::vars() {
            if k.starts_with("BFF_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .args(["--demo-base-port", "0"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("BFF_WEB_ADDR", format!("127.0.0.1:{web}"))
            .env("BFF_MOBILE_ADDR", format!("127.0.0.1:{mobile}"))
            .env("BFF_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bff starts");
        let process = BffProcess { child, web };
        let http = crate::harness::client();
        for _ in 0..300 {
            let url = format!("http://127.0.0.1:{web}/healthz");
            if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("bff did not answer /healthz");
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `HUP`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }

    /// POSTs `query` to the web client; status and JSON body.
    pub async fn web_query(&self, query: &str) -> (u16, serde_json::Value) {
        let r = crate::harness::client()
            .post(format!("http://127.0.0.1:{}/graphql", self.web))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .expect("bff answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }
}

impl Drop for BffProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
